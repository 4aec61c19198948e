"""The Tansu broker profile's producer against the real Tansu broker: table changelogs
one record per batch (so that faust's recovery sees their true end), other topics batched."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.runtime.broker import EmbeddedBroker, bootstrap_servers, tansu_end_offsets
from agents.runtime.tansu import ChangelogSplittingProducer

RECORDS = 5


async def write_and_read_end_offsets(broker: EmbeddedBroker) -> dict[str, tuple[int, int]]:
    """Write ``RECORDS`` records at once to a changelog and to another topic; per topic,
    the end offset Tansu reports and the true one."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    topics = {"changelog": f"{prefix}-story-state-changelog", "other": f"{prefix}.articles.clean"}
    servers = bootstrap_servers(broker.url)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1) for topic in topics.values()])
    finally:
        await admin.close()
    producer = ChangelogSplittingProducer(bootstrap_servers=servers, linger_ms=200)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, b"value", key=b"key", partition=0)
            for topic in topics.values()
            for _ in range(RECORDS)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers)
    await consumer.start()
    try:
        partitions = {role: TopicPartition(topic, 0) for role, topic in topics.items()}
        reported = await consumer.end_offsets(list(partitions.values()))
        true = await tansu_end_offsets(consumer, list(partitions.values()))
    finally:
        await consumer.stop()
    return {role: (reported[tp], true[tp]) for role, tp in partitions.items()}


def test_changelogs_are_written_one_record_per_batch_and_other_topics_in_batches(
    broker: EmbeddedBroker,
) -> None:
    ends = asyncio.run(write_and_read_end_offsets(broker))
    # One record per batch: Tansu's end offset is right, so table recovery reads it all.
    assert ends["changelog"] == (RECORDS, RECORDS)
    # One batch (lingering): Tansu reports the first offset of the last batch + 1.
    assert ends["other"] == (1, RECORDS)
