"""Reliability end to end: bad input, big pages and a killed worker never stall the
pipeline or lose an article (real Tansu broker, real worker processes, the real CLI)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.runtime.broker import (
    EmbeddedBroker,
    bootstrap_servers,
    tansu_end_offsets,
)
from newswire.replay.inputs import Outbound, publish, stable_id
from newswire.watch import StoryBoard
from schemas.graph import RAW
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.conftest import PROJECT, SEEDS
from tests.corpora import GOOD_ARTICLE, news_stream, write_bad_inputs
from tests.e2e.conftest import own_settings, settings_env, watch_until

SEED_IDS = {
    path.name[:3]: stable_id(content=path.read_bytes()) for path in sorted(SEEDS.glob("*.txt"))
}


@pytest.fixture
def pipeline_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """The test's own topics with the default partitioning of the dedup index (one
    partition) and the story index (in-process), as a user runs the pipeline."""
    return own_settings(broker, tmp_path, "r", dedup_partitions=1, story_index_partitions=0)


def _replay(settings: Settings, *paths: Path) -> subprocess.CompletedProcess[str]:
    """``newswire replay PATH...`` against the test's broker, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", "replay", *map(str, paths)],
        cwd=PROJECT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _raw_revisions(settings: Settings) -> dict[str, int]:
    """The id of every article on the raw topic, read to its end, with its latest revision."""

    async def read() -> dict[str, int]:
        topic = RAW.name(settings.topic_prefix)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(settings.broker_url or ""),
            max_partition_fetch_bytes=2 * settings.max_article_bytes,
            fetch_max_bytes=4 * settings.max_article_bytes,
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, number)
                for number in consumer.partitions_for_topic(topic) or ()
            ]
            ends = await tansu_end_offsets(consumer, partitions)
            consumer.assign(list(ends))
            await consumer.seek_to_beginning(*ends)
            revisions: dict[str, int] = {}
            pending = {partition for partition, end in ends.items() if end > 0}
            while pending:
                for partition, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        article = RawArticle.from_json(record.value)
                        revisions[article.id] = max(article.revision, revisions.get(article.id, 1))
                    if records[-1].offset + 1 >= ends[partition]:
                        pending.discard(partition)
            return revisions
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _one_article(directory: Path) -> Path:
    path = directory / "after-restart.jsonl"
    path.write_bytes(orjson.dumps({"id": "after-restart", "text": GOOD_ARTICLE}) + b"\n")
    return path


def _accounting(board: StoryBoard, published: dict[str, int]) -> dict[str, int]:
    """Published / in a story / dead-lettered / lost, counted by article id."""
    dead = {letter.article_id for letter in board.dead_letters}
    placed = {article_id for story in board.stories.values() for article_id in story.article_ids}
    unique = set(published)
    return {
        "published": len(unique),
        "in stories": len(unique & placed),
        "dead letters": len(unique & (dead - placed)),
        "lost": len(unique - placed - dead),
    }


def test_bad_input_is_dead_lettered_and_the_seeds_still_form_their_story(
    pipeline_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    limit = pipeline_settings.max_article_bytes
    corpus = write_bad_inputs(tmp_path / "corpus", max_article_bytes=limit)
    worker = start_worker()
    replay = _replay(pipeline_settings, corpus)
    # A producer other than newswire's reader sends what the reader would refuse.
    oversized = RawArticle(
        id="oversized", text="x " * (limit // 2 + 1000), fetched_at=datetime.now(UTC)
    ).to_json()
    asyncio.run(publish(pipeline_settings, [Outbound("oversized", oversized)]))
    assert replay.returncode in (0, 3), replay.stderr
    assert "Traceback" not in replay.stderr
    # Each damaged file is reported in one line that names it.
    for damaged in ("broken.json", "truncated.jsonl.gz", "corrupt.jsonl.gz"):
        assert sum(damaged in line for line in replay.stderr.splitlines()) == 1, replay.stderr

    published = _raw_revisions(pipeline_settings)
    board = watch_until(pipeline_settings, lambda b: b.done_with(published), timeout=400)
    counts = _accounting(board, published)
    print(
        f"\nbad-input corpus: {counts}, reader dead letters: "
        f"{sum(letter.stage == 'replay' for letter in board.dead_letters)}"
    )
    assert counts["lost"] == 0
    assert counts["in stories"] >= 10
    for letter in board.dead_letters:
        assert letter.stage and letter.reason and letter.error_type
        assert len(letter.payload) <= pipeline_settings.dead_letter_payload_bytes * 2
    reasons = Counter((letter.stage, letter.error_type) for letter in board.dead_letters)
    # What the reader cannot read it dead-letters itself, saying where it was.
    replayed = [letter for letter in board.dead_letters if letter.stage == "replay"]
    assert len(replayed) >= 7, reasons  # {not json, "text", 12, null, true, [1], list elements
    assert all(letter.location for letter in replayed)
    assert any("url" in letter.reason for letter in replayed), reasons
    (huge,) = [letter for letter in board.dead_letters if letter.article_id == "huge"]
    assert (huge.stage, huge.error_type) == ("replay", "too_large")
    assert huge.payload_truncated and huge.payload_bytes > limit
    (big,) = [letter for letter in board.dead_letters if letter.article_id == "oversized"]
    assert (big.stage, big.error_type) == ("clean", "too_large")
    assert big.payload_bytes == len(oversized)
    assert big.payload_sha256 == hashlib.sha256(oversized).hexdigest()
    assert len(big.payload) == pipeline_settings.dead_letter_payload_bytes

    # The seeds: one story of five, 002 a copy of 000.
    story = board.stories[board.articles[SEED_IDS["000"]].story_id]
    assert sorted(set(SEED_IDS.values()) & set(story.article_ids)) == sorted(SEED_IDS.values())
    assert story.duplicates.get(SEED_IDS["002"]) == SEED_IDS["000"]
    # The two contents of one URL: one member, its second revision.
    live = stable_id(url="https://news.example.org/live/1")
    (member,) = [m for s in board.stories.values() for m in s.members if m.id == live]
    assert member.revision == 2
    assert sum(s.article_ids.count(live) for s in board.stories.values()) == 1
    # An implausible date is dropped, with the reason on the article.
    future = board.articles["future-date"]
    assert future.published_at is None and future.dropped_dates
    # The large valid article reached its story; the page of links and the tag bomb are
    # refused with their reason.
    assert any(a.title == "A long report" for a in board.articles.values())
    assert (
        Counter(letter.error_type for letter in board.dead_letters if letter.stage == "clean")[
            "pathological_html"
        ]
        == 2
    )

    # No poison pill: a restarted worker on the same group goes on with the next article.
    worker.terminate()
    assert worker.wait(timeout=30) == 0
    start_worker()
    _replay(pipeline_settings, _one_article(tmp_path))
    after = watch_until(pipeline_settings, lambda b: b.done_with(["after-restart"]))
    assert "after-restart" in after.stories[after.articles["after-restart"].story_id].article_ids


def test_a_worker_killed_mid_replay_is_replaced_and_every_article_lands_once(
    pipeline_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    stream = tmp_path / "stream.jsonl"
    articles = news_stream(120)
    stream.write_bytes(b"".join(orjson.dumps(article) + b"\n" for article in articles))
    ids = [article["id"] for article in articles]
    worker = start_worker()
    replay = _replay(pipeline_settings, stream)
    assert replay.returncode == 0, replay.stderr

    # Kill the worker (and only it: its stage processes must die with it) as soon as
    # articles come through, most likely before it has committed any offset, then
    # start another.
    watch_until(pipeline_settings, lambda b: len(b.articles) >= 3, timeout=300)
    stage_processes = psutil.Process(worker.pid).children(recursive=True)
    assert stage_processes
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    _gone, alive = psutil.wait_procs(stage_processes, timeout=10)
    assert not alive, "stage processes outlived their worker"
    killed_at = time.monotonic()
    start_worker()

    board = watch_until(pipeline_settings, lambda b: b.done_with(ids), timeout=240)
    print(
        f"\nafter the kill: all {len(ids)} articles placed in {time.monotonic() - killed_at:.1f} s"
    )
    assert not board.dead_letters
    homes = Counter(
        article_id for story in board.stories.values() for article_id in story.article_ids
    )
    assert {article_id: homes[article_id] for article_id in ids} == dict.fromkeys(ids, 1)
