"""The embedded broker on disk enforces the topics' retention and compacts the compacted
ones (Tansu does neither): the oldest whole batches go, or those written again, through
its S3 server, and consumers start at the new first offset, or read over the gaps."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.runtime.broker import EmbeddedBroker, bootstrap_servers

AGED, SIZED, HELD, COMPACTED = "aged", "sized", "held", "compacted"
RETENTION_MS = 10_000
"""Records are written a minute older or younger than now: well past it, or well within."""
RECORD = b"r" * 1_000


async def create_and_write_old(url: str) -> None:
    """Four topics, five old single-record batches in each; a group committed at 2 on
    HELD."""
    servers = bootstrap_servers(url)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    timed = {"cleanup.policy": "delete", "retention.ms": str(RETENTION_MS)}
    try:
        await admin.create_topics(
            [
                NewTopic(AGED, 1, 1, topic_configs=timed),
                NewTopic(HELD, 1, 1, topic_configs=timed),
                NewTopic(
                    SIZED,
                    1,
                    1,
                    topic_configs={"cleanup.policy": "delete", "retention.bytes": "3500"},
                ),
                NewTopic(
                    COMPACTED,
                    1,
                    1,
                    topic_configs={"cleanup.policy": "compact", "retention.ms": str(RETENTION_MS)},
                ),
            ]
        )
    finally:
        await admin.close()
    await write(servers, 5, minutes=-1)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id="slow", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(HELD, 0)])
        await consumer.commit({TopicPartition(HELD, 0): 2})
    finally:
        await consumer.stop()


async def write(servers: str, count: int, minutes: int) -> None:
    """``count`` records to each topic, one batch each, timestamped ``minutes`` from now;
    keyed ``k`` (to COMPACTED: ``k0`` and ``k1`` in turn)."""
    timestamp_ms = round((time.time() + 60 * minutes) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for number in range(count):
            for topic in (AGED, SIZED, HELD, COMPACTED):
                key = b"k%d" % (number % 2) if topic == COMPACTED else b"k"
                await producer.send_and_wait(topic, RECORD, key=key, timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def first_offsets(servers: str) -> dict[str, int]:
    """Each topic's first offset, as the broker reports it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers)
    await consumer.start()
    try:
        offsets = await consumer.beginning_offsets(
            [TopicPartition(topic, 0) for topic in (AGED, SIZED, HELD, COMPACTED)]
        )
    finally:
        await consumer.stop()
    return {partition.topic: offset for partition, offset in offsets.items()}


async def read_from_the_beginning(servers: str, topic: str) -> list[int]:
    """The offsets a new consumer group reads from the beginning of ``topic``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=servers, group_id=f"new-{topic}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        offsets: list[int] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not offsets or offsets[-1] < 7):
            batches = await consumer.getmany(timeout_ms=1000)
            offsets += [record.offset for records in batches.values() for record in records]
        return offsets
    finally:
        await consumer.stop()


def test_the_broker_on_disk_deletes_what_is_past_retention_and_consumers_start_after_it(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker(storage_dir=tmp_path / "broker", retention_sweep_seconds=0.5) as broker:
        servers = bootstrap_servers(broker.url)
        asyncio.run(create_and_write_old(broker.url))
        asyncio.run(write(servers, 3, minutes=1))
        time.sleep(1.5)  # three sweeps
        firsts = asyncio.run(first_offsets(servers))
        assert firsts == {AGED: 5, SIZED: 5, HELD: 2, COMPACTED: 6}
        assert asyncio.run(read_from_the_beginning(servers, AGED)) == [5, 6, 7]
        assert asyncio.run(read_from_the_beginning(servers, HELD)) == [2, 3, 4, 5, 6, 7]
        # k0 was last written at 7, k1 at 6; the retention of a compacted topic is not its.
        assert asyncio.run(read_from_the_beginning(servers, COMPACTED)) == [6, 7]
    records = tmp_path / "broker/tansu/clusters/newswire-embedded/topics"
    assert len(list((records / AGED).glob("partitions/*/records/*.batch"))) == 3
