"""Publishing to the raw topic of a real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.runtime.broker import bootstrap_servers
from newswire.replay.inputs import (
    Outbound,
    publish,
)
from schemas.graph import RAW
from schemas.records import RawArticle
from schemas.settings import Settings


def test_publishing_deals_the_articles_to_the_raw_partitions_in_turn(
    pipeline_settings: Settings,
) -> None:
    fetched = datetime(2026, 1, 1, tzinfo=UTC)
    messages = [
        Outbound.of(RawArticle(id=f"article-{n}", text=f"Article {n}.", fetched_at=fetched))
        for n in range(20)
    ]
    topic = RAW.name(pipeline_settings.topic_prefix)

    async def publish_then_read() -> dict[bytes, int]:
        await publish(pipeline_settings, messages)
        assert pipeline_settings.broker_url
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(pipeline_settings.broker_url),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign(
                [TopicPartition(topic, number) for number in range(pipeline_settings.partitions)]
            )
            partition_of: dict[bytes, int] = {}
            while len(partition_of) < len(messages):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    partition_of.update(
                        (record.key, record.partition)
                        for record in records
                        if record.key is not None
                    )
            return partition_of
        finally:
            await consumer.stop()

    partition_of = asyncio.run(asyncio.wait_for(publish_then_read(), 20))
    # Keyed by article id, but placed in turn (a hash of the ids would not alternate).
    dealt = [partition_of[message.key.encode()] for message in messages]
    assert dealt == [(dealt[0] + n) % pipeline_settings.partitions for n in range(len(messages))]
