"""The story evaluation: BCubed arithmetic and a run over a tiny labelled file."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newswire.evaluation.stories import (
    STREAM_THRESHOLDS,
    bcubed,
    main,
    measure_memory,
    measure_scale,
    synthetic_times,
    topic_halves,
    topic_of,
)
from tests.conftest import PROJECT

ARTICLES = PROJECT / "tests" / "data" / "stories" / "articles.jsonl"


def test_bcubed_on_a_hand_computed_example() -> None:
    gold = {"a": 1, "b": 1, "c": 2, "d": 2}
    predicted = {"a": "x", "b": "x", "c": "x", "d": "y"}
    # Precision per item: a 2/3, b 2/3, c 1/3, d 1 -> 2/3; recall: a 1, b 1, c 1/2, d 1/2 -> 3/4.
    precision, recall, f1 = bcubed(predicted, gold)
    assert precision == pytest.approx(2 / 3)
    assert recall == pytest.approx(3 / 4)
    assert f1 == pytest.approx(12 / 17)


def test_bcubed_is_perfect_only_for_the_gold_partition() -> None:
    gold = {"a": 1, "b": 1, "c": 2}
    assert bcubed({"a": 7, "b": 7, "c": 8}, gold) == (1.0, 1.0, 1.0)
    assert bcubed({"a": 7, "b": 7, "c": 7}, gold)[0] < 1.0
    assert bcubed({"a": 7, "b": 8, "c": 9}, gold)[1] < 1.0


def test_the_evaluation_reports_every_order_and_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    assert main([str(ARTICLES), "--orders", "2", "--seed", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["quality"]
    assert (result["articles"], result["gold_stories"]) == (6, 2)
    assert [run["order"] for run in result["streaming"]] == ["file", "shuffle 1", "shuffle 2"]
    for run in [*result["streaming"], result["offline"]]:
        assert 0.0 <= run["precision"] <= 1.0 and 0.0 <= run["recall"] <= 1.0
    assert 1_000 < result["bytes_per_article_held"] < 200_000
    printed = capsys.readouterr().out
    assert "offline tuned" in printed
    assert f"{result['bytes_per_article_held']:,.0f} bytes held per article" in printed


def test_the_scale_measurement_reaches_each_number_of_stories() -> None:
    sizes = (30, 80)
    rows = measure_scale(seed=5, sizes=sizes, sample=10)
    assert len(rows) == len(sizes)
    for size, row in zip(sizes, rows, strict=True):
        # Every synthetic story has an article; a few may have joined another story.
        assert 0.9 * size <= row["live_stories"] <= size
        assert row["articles"] >= size
        assert 1.0 <= row["mean_story_size"] <= row["largest_story"]
        assert row["ms_per_article"] > 0


def test_the_memory_measurement_counts_what_the_clusterer_holds() -> None:
    small, large = measure_memory(seed=5, stories=400), measure_memory(seed=5, stories=1600)
    assert small["articles"] >= 400 and large["articles"] >= 1600
    # Per article the state is a few KB to tens of KB, and does not shrink with more stories.
    assert 2_000 < small["bytes_per_article"] < 200_000
    assert large["bytes_per_article"] > 0.5 * small["bytes_per_article"]


FIRE_ROWS = [
    {
        "doc_id": f"fire-{place}-{n}",
        "topic": "fire",
        "event": f"fire-{place}",
        "url": None,
        "text": text,
    }
    for place, texts in {
        "lyon": [
            "A fire destroyed a warehouse in Lyon on Monday; 40 firefighters fought it.",
            "The Lyon warehouse fire was put out by 40 firefighters, the mayor said.",
        ],
        "porto": [
            "Fire swept through a hotel in Porto on Friday, injuring nine guests.",
            "Nine guests were hurt when fire swept through the Porto hotel.",
        ],
    }.items()
    for n, text in enumerate(texts)
]


def test_topic_halves_cut_the_topics_in_two_disjoint_halves() -> None:
    rows = [{"doc_id": str(n), "topic": str(n % 7), "event": "e"} for n in range(30)]
    halves = topic_halves(rows, 4, random.Random(1))
    assert len(halves) == 4
    for first, second in halves:
        assert first.isdisjoint(second) and first | second == {str(n) for n in range(7)}
        assert (len(first), len(second)) == (3, 4)
    assert len(set(halves)) > 1  # the cuts are random, not one cut four times


def test_the_topic_defaults_to_the_event_label_before_its_last_underscore() -> None:
    assert topic_of({"event": "12_ecbplus"}) == "12"
    assert topic_of({"topic": "quake", "event": "quake_1"}) == "quake"


def test_synthetic_times_keep_an_event_together_and_a_topic_s_events_apart() -> None:
    rows = [json.loads(line) for line in ARTICLES.read_text().splitlines()] + FIRE_ROWS
    published = synthetic_times(rows, random.Random(4))
    by_event: dict[str, list[datetime]] = {}
    for row in rows:
        by_event.setdefault(row["event"], []).append(published[row["doc_id"]])
    for times in by_event.values():
        assert max(times) - min(times) <= timedelta(days=3)
    for first, second in (("quake-chile", "quake-sumatra"), ("fire-lyon", "fire-porto")):
        gap = abs(min(by_event[first]) - min(by_event[second]))
        assert gap >= timedelta(days=11)  # 14 days, less the 3-day spread of an event


def test_the_held_out_protocol_scores_each_half_tuned_on_the_other(tmp_path: Path) -> None:
    corpus = tmp_path / "two-topics.jsonl"
    rows = [json.loads(line) for line in ARTICLES.read_text().splitlines()] + FIRE_ROWS
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "result.json"
    assert main([str(corpus), "--split", "1", "--orders", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["held_out"]
    assert sorted(tuple(result["held_out_topics"]) for result in results) == [("fire",), ("quake",)]
    for result in results:
        size = {"fire": 4, "quake": 6}[result["held_out_topics"][0]]
        assert (result["articles"], result["gold_stories"]) == (size, 2)
        assert result["threshold"] in STREAM_THRESHOLDS
        assert [run["order"] for run in result["streaming"]] == ["file", "shuffle 1"]
        assert result["offline"]["f1"] <= result["offline_oracle"]["f1"]
