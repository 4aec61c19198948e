"""The story evaluation: BCubed arithmetic and a run over a tiny labelled file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newswire.evaluation.stories import bcubed, main, measure_scale
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
    assert "offline tuned" in capsys.readouterr().out


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
