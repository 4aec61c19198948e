"""The faust transport of both broker profiles (tansu and kafka) against the real Tansu
broker: a worker's producer writes table changelogs so that the end offset the broker
reports is their true end. Tansu reports the first
offset of a partition's last batch + 1; a batched changelog would make a surviving
worker's recovery fail with faust's ConsistencyError (its table's offset over that
end) or lose the records after it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.runtime.app import faust_options
from agents.runtime.broker import (
    EmbeddedBroker,
    bootstrap_servers,
    ensure_topics_sync,
    tansu_end_offsets,
)
from schemas.settings import BrokerProfile, Settings

RECORDS = 5


async def _changelog_ends(settings: Settings) -> tuple[int, int]:
    """Write ``RECORDS`` records at once to a table changelog with the producer a worker
    on ``settings`` makes; the end offset the broker reports, and the true one."""
    app = faust.App(settings.app_id, **faust_options(settings))
    topic = f"{settings.app_id}-dedup-decisions-changelog"
    # The transport's own aiokafka producer, as a worker's tables use it.
    producer = cast(Any, app.producer)._new_producer()
    await producer.start()
    try:
        sent = [
            await producer.send(topic, b"value", key=b"key", partition=0) for _ in range(RECORDS)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url or ""))
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        reported = await consumer.end_offsets([partition])
        true = await tansu_end_offsets(consumer, [partition])
    finally:
        await consumer.stop()
    return reported[partition], true[partition]


@pytest.mark.parametrize("broker_profile", ["tansu", "kafka"])
def test_a_workers_changelog_ends_where_the_broker_says(
    broker: EmbeddedBroker, tmp_path: Path, broker_profile: BrokerProfile
) -> None:
    name = f"m{uuid.uuid4().hex[:8]}"
    settings = Settings(
        broker_url=broker.url,
        app_id=name,
        topic_prefix=name,
        data_dir=tmp_path,
        broker_profile=broker_profile,
        producer_linger_ms=200,
    )
    ensure_topics_sync(settings)
    assert asyncio.run(_changelog_ends(settings)) == (RECORDS, RECORDS)
