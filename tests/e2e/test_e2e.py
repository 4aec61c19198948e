"""End to end on a real Kafka-protocol broker (Tansu), with the seeds.

These run the real agents (trafilatura, spaCy, dedup, clustering) in real
worker processes; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from agents.runtime.broker import free_port
from newswire.evaluation.synthetic import article
from newswire.replay.inputs import Outbound, publish, read_inputs, stable_id
from schemas.records import RawArticle, StoryEntity
from schemas.settings import Settings
from tests.conftest import PROJECT, SEEDS
from tests.e2e.conftest import watch_until
from tests.unit.test_entities_seeds import expected_story_problems

SEED_IDS = {
    path.name[:3]: stable_id(content=path.read_bytes()) for path in sorted(SEEDS.glob("*.txt"))
}

OTHER_EVENT = """Wildfire forces evacuation of mountain villages in southern Chile

Firefighters in southern Chile battled a fast-moving wildfire on Tuesday that forced the
evacuation of four mountain villages near the town of Pucon, regional officials said.

The fire, fanned by strong winds and temperatures above 35 degrees Celsius, has burned more
than 8,000 hectares of forest since Sunday, according to the national forestry agency CONAF.

Interior Minister Carolina Toha said two helicopters and a tanker plane had been sent to the
area and that no deaths had been reported, though several homes were destroyed.
"""


def _publish(settings: Settings, messages: list[Outbound]) -> None:
    asyncio.run(publish(settings, messages))


def _other_event_message() -> Outbound:
    article = RawArticle(id="chile-fire", text=OTHER_EVENT, fetched_at="2020-06-01T00:00:00Z")
    return Outbound.of(article)


def _run_once(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`newswire run --once ARGS` on its own embedded broker, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env["NEWSWIRE_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", "run", "--once", "--timeout", "300", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )


def test_run_once_groups_the_seeds_into_one_story(tmp_path: Path) -> None:
    stories_out, articles_out = tmp_path / "s.jsonl", tmp_path / "a.jsonl"
    result = _run_once(
        tmp_path, "--stories-out", str(stories_out), "--articles-out", str(articles_out)
    )
    assert result.returncode == 0, result.stderr[-3000:]

    articles = {row["id"]: row for row in map(orjson.loads, articles_out.read_text().splitlines())}
    assert set(SEED_IDS.values()) <= set(articles)
    assert all(articles[seed]["story_id"] for seed in SEED_IDS.values())

    stories = [orjson.loads(line) for line in stories_out.read_text().splitlines()]
    for seed in SEED_IDS.values():
        assert sum(seed in story["article_ids"] for story in stories) == 1

    # seeds/EXPECTED.md: one story of all five, 002 a copy of 000 and still a member.
    (story,) = [s for s in stories if SEED_IDS["000"] in s["article_ids"]]
    assert sorted(story["article_ids"]) == sorted(SEED_IDS.values())
    assert story["duplicates"] == {SEED_IDS["002"]: SEED_IDS["000"]}
    assert articles[SEED_IDS["002"]]["duplicate_of"] == SEED_IDS["000"]
    # seeds/EXPECTED.md: the entities, canonicalised across the story, in the story record.
    entities = [StoryEntity.model_validate(entity) for entity in story["entities"]]
    assert expected_story_problems(entities) == []
    # What a person sees: the story printed with its headline as it grows, in good
    # grammar; what the run is waiting for; a summary.
    assert f"story {story['story_id']}" in result.stdout
    assert story["headline"] in result.stdout
    # The seeds are plain text files: their publishers are unknown, and not counted.
    assert f"story {story['story_id']} v1 · 1 article (0 duplicates)\n" in result.stdout
    assert " 1 articles" not in result.stdout and " 1 sources" not in result.stdout
    for waiting_for in (
        "warming up the stage process",
        "starting the embedded broker",
        "joining the consumer group",
        "worker ready",
        "stage process warm",
    ):
        assert f"newswire: {waiting_for}" in result.stderr
    summary = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"newswire: done in [0-9.]+ s: 5 articles · 5 in 1 story · 1 copy · "
        r"0 revisions · 0 dead letters",
        summary,
    ), summary


def test_a_large_replay_ends_with_its_largest_stories_from_the_story_database(
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(SEEDS, inputs)
    others = [article(number, seed=1) for number in range(20)]
    (inputs / "others.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in others))
    result = _run_once(tmp_path, "--replay", str(inputs))
    assert result.returncode == 0, result.stderr[-3000:]

    # More than a screenful: no story as it changes, its largest ones at the end, with
    # their members (held by the story database, not by the run).
    shown = result.stdout.split("\n\n")
    assert re.match(r"story \S+ v\d+ · 5 articles \(1 duplicate\)", shown[0]), shown[0]
    assert all(f"  - {seed} " in shown[0] for seed in SEED_IDS.values())
    assert len(re.findall(r"^story ", result.stdout, re.MULTILINE)) == 10
    more, summary = [line for line in result.stdout.splitlines() if line][-2:]
    done = re.fullmatch(
        r"newswire: done in [0-9.]+ s: 25 articles · 25 in (\d+) stories · 1 copy · "
        r"0 revisions · 0 dead letters",
        summary,
    )
    assert done, summary
    assert more == f"... and {int(done[1]) - 10} more stories (--stories-out FILE writes them all)"


def test_run_once_quiet_prints_the_summary_and_exits_3_for_a_dead_letter(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(SEEDS, inputs)
    (inputs / "broken.jsonl").write_text("{not json\n")
    result = _run_once(tmp_path, "--quiet", "--replay", str(inputs))
    assert result.returncode == 3, result.stderr[-3000:]
    (summary,) = result.stdout.splitlines()
    assert re.fullmatch(
        r"newswire: done in [0-9.]+ s: 5 articles · 5 in 1 story · 1 copy · "
        r"0 revisions · 1 dead letter \(replay/invalid_json 1\)",
        summary,
    ), summary
    # No progress, no start-up lines: only the one line that reports the damaged file.
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("newswire:")]
    assert "broken.jsonl:1" in error


def test_replaying_the_seeds_again_adds_nothing(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    start_worker()
    seeds = read_inputs([SEEDS])
    _publish(pipeline_settings, seeds)
    first = watch_until(pipeline_settings, lambda board: board.done_with(SEED_IDS.values()))
    seed_story = first.articles[SEED_IDS["000"]].story_id
    before = first.stories[seed_story]

    # Replay, then a new article: once the new one has its story, the replay is through.
    _publish(pipeline_settings, [*seeds, _other_event_message()])
    second = watch_until(pipeline_settings, lambda board: board.done_with(["chile-fire"]))
    after = second.stories[seed_story]
    assert after.version == before.version
    assert sorted(after.article_ids) == sorted(before.article_ids)
    assert second.articles["chile-fire"].story_id != seed_story
    for story in second.stories.values():
        assert len(story.article_ids) == len(set(story.article_ids))


def test_malformed_message_is_dead_lettered_and_the_next_good_one_goes_through(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    start_worker()
    good = _other_event_message()
    _publish(
        pipeline_settings,
        [
            Outbound("bad-json", b"{not json"),
            Outbound("bad-record", orjson.dumps({"id": "bad-record", "text": "x"})),
            good,
        ],
    )
    board = watch_until(
        pipeline_settings, lambda b: b.done_with(["bad-json", "bad-record", good.key])
    )
    letters = {letter.article_id: letter for letter in board.dead_letters}
    assert letters["bad-json"].stage == "clean"
    assert letters["bad-json"].error_type == "invalid_json"
    assert letters["bad-json"].payload == "{not json"
    assert letters["bad-json"].topic == f"{pipeline_settings.topic_prefix}.articles.raw"
    assert letters["bad-record"].error_type == "invalid_record"
    assert "fetched_at" in letters["bad-record"].reason
    assert good.key in board.stories[board.articles[good.key].story_id].article_ids


def _fresh_copy_of_000() -> Outbound:
    """The text of seed 000 under a new id: an exact copy the dedup index has not seen."""
    (path,) = SEEDS.glob("000_*.txt")
    article = RawArticle(id="copy-of-000", text=path.read_text(), fetched_at=datetime.now(UTC))
    return Outbound.of(article)


def test_dedup_and_story_state_survive_a_worker_restart(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    first_worker = start_worker()
    _publish(pipeline_settings, read_inputs([SEEDS]))
    before = watch_until(pipeline_settings, lambda board: board.done_with(SEED_IDS.values()))
    seed_story = before.articles[SEED_IDS["000"]].story_id
    first_worker.terminate()
    assert first_worker.wait(timeout=30) == 0

    # A new worker recovers the tables from their changelogs: the copy alone is
    # still recognised as a copy of 000 (dedup verdicts) and joins the same story,
    # unchanged; a new copy of 000 is found in the recovered index (dedup shards).
    start_worker()
    copy = next(m for m in read_inputs([SEEDS]) if m.key == SEED_IDS["002"])
    _publish(pipeline_settings, [copy, _other_event_message()])
    after = watch_until(
        pipeline_settings,
        lambda board: board.deliveries[SEED_IDS["002"]] >= 2 and board.done_with(["chile-fire"]),
    )
    replayed = after.articles[SEED_IDS["002"]]
    assert replayed.duplicate_of == SEED_IDS["000"]
    assert replayed.story_id == seed_story
    assert after.stories[seed_story].version == before.stories[seed_story].version

    _publish(pipeline_settings, [_fresh_copy_of_000()])
    later = watch_until(pipeline_settings, lambda board: board.done_with(["copy-of-000"]))
    assert later.articles["copy-of-000"].duplicate_of == SEED_IDS["000"]
    assert later.articles["copy-of-000"].dedup.kind == "exact"
    assert later.articles["copy-of-000"].story_id == seed_story


def test_two_workers_split_the_stages(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    assert pipeline_settings.partitions == 2
    web_ports = [free_port(), free_port()]
    for port in web_ports:
        start_worker(web_port=port)
    # With two workers, articles published together are judged in the order they
    # reach the dedup stage, which the workers' relative speed decides: the
    # originals go first.
    seeds = read_inputs([SEEDS])
    originals = [SEED_IDS[number] for number in ("000", "001", "003")]
    _publish(pipeline_settings, [m for m in seeds if m.key in originals])
    watch_until(pipeline_settings, lambda b: b.done_with(originals))
    _publish(pipeline_settings, [m for m in seeds if m.key not in originals])
    board = watch_until(pipeline_settings, lambda b: b.done_with(SEED_IDS.values()))
    # seeds/EXPECTED.md: 002 is a copy of 000, every other seed an original.
    duplicates = {number: board.articles[seed].duplicate_of for number, seed in SEED_IDS.items()}
    assert duplicates == {
        "000": None,
        "001": None,
        "002": SEED_IDS["000"],
        "003": None,
        "004": None,
    }
    # The two single-partition stages (dedup routing, stories) run on different workers,
    # and the story worker leaves the dedup shards, decisions and story store to the other.
    prefix = pipeline_settings.topic_prefix
    tagged, deduped = (f"{prefix}.articles.{name}" for name in ("tagged", "deduped"))
    light = {f"{prefix}.{name}" for name in ("dedup.probes", "dedup.reports", "stories")}
    actives = [_active_topics(port) for port in web_ports]
    assert [tagged in topics for topics in actives] == [deduped not in topics for topics in actives]
    assert sum(tagged in topics for topics in actives) == 1
    story_worker, other_worker = sorted(actives, key=lambda topics: deduped not in topics)
    assert not story_worker.keys() & light
    assert {topic: partitions for topic, partitions in other_worker.items() if topic in light} == {
        topic: [0, 1] for topic in light
    }


def _active_topics(web_port: int) -> dict[str, list[int]]:
    """The partitions a worker consumes by topic, from its faust web view of the assignment."""
    url = f"http://127.0.0.1:{web_port}/assignment/"
    with urllib.request.urlopen(url, timeout=10) as response:
        return {
            topic: sorted(partitions)
            for topic, partitions in orjson.loads(response.read())["actives"].items()
            if partitions
        }


def test_ctrl_c_stops_the_pipeline_and_its_embedded_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env["NEWSWIRE_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "run"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # runs until the first story is printed
            if line.startswith("story "):
                break
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the embedded broker runs as a child process"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at a terminal sends
        assert process.wait(timeout=60) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive
    finally:
        if process.poll() is None:
            process.kill()
