"""`newswire run` on disk with a short retention: the articles of a run past it leave the
broker's topics, and the next run still decides against them (the tables keep them)
and places its own (issue #26)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.runtime.broker import EmbeddedBroker, bootstrap_servers
from newswire.evaluation.synthetic import article
from newswire.evaluation.variants import make_variant
from tests.e2e.test_e2e_restart import _env, _run_once

RETENTION_SECONDS = 15
FIRST, SECOND = range(8), range(8, 16)


def _inputs(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


async def _from_the_beginning(url: str, topic: str) -> tuple[dict[int, int], set[str]]:
    """Each partition's first offset, and the keys a consumer reads from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(url),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        firsts = await consumer.beginning_offsets(partitions)
        keys: set[str] = set()
        for _ in range(5):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                keys |= {(record.key or b"").decode() for record in records}
        return {partition.partition: offset for partition, offset in firsts.items()}, keys
    finally:
        await consumer.stop()


def test_a_run_past_retention_keeps_only_the_new_records_and_still_decides_against_the_old(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir) | {
        "NEWSWIRE_TOPIC_RETENTION_DAYS": str(RETENTION_SECONDS / 86400),
        "NEWSWIRE_RETENTION_SWEEP_SECONDS": "1",
    }
    first = [article(number, seed=7) for number in FIRST]
    (tmp_path / "first").mkdir()
    _run_once(
        data_dir,
        tmp_path / "first",
        "--replay",
        str(_inputs(tmp_path / "first.jsonl", first)),
        env=env,
    )
    time.sleep(RETENTION_SECONDS)

    copy = make_variant(first[0], "spun", 7)
    second = [article(number, seed=7) for number in SECOND] + [
        {"id": copy.id, "title": copy.title or "", "text": copy.text}
    ]
    (tmp_path / "second").mkdir()
    _stories, articles = _run_once(
        data_dir,
        tmp_path / "second",
        "--replay",
        str(_inputs(tmp_path / "second.jsonl", second)),
        env=env,
    )
    assert articles[copy.id]["duplicate_of"] == first[0]["id"]
    assert {row["id"] for row in second} <= {
        row_id for row_id, row in articles.items() if row["story_id"]
    }

    with EmbeddedBroker(storage_dir=data_dir / "broker") as broker:
        firsts, keys = asyncio.run(_from_the_beginning(broker.url, "newswire.articles.raw"))
    assert all(offset > 0 for offset in firsts.values()), firsts
    assert not keys & {row["id"] for row in first}
    assert {row["id"] for row in second} <= keys
