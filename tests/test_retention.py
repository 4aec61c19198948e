"""The embedded broker on disk enforces the topics' retention (Tansu does not): the
oldest whole batches go, through its S3 server, and consumers start at the new first
offset."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from newswire.broker import EmbeddedBroker, bootstrap_servers
from newswire.retention import BatchFile, Retention, expired

NOW_MS = 1_800_000_000_000


def batch_file(folder: Path, base: int, records: int, max_timestamp: int, size: int) -> BatchFile:
    """A batch object as Tansu writes it: a Kafka v2 record batch header, padded."""
    header = struct.pack(">qiiBIhiqq", 0, size - 12, -1, 2, 0, 0, records - 1,
                         max_timestamp - 5, max_timestamp)
    path = folder / f"{base:020d}.batch"
    path.write_bytes(header.ljust(size, b"\0"))
    return BatchFile(path, base, size)


def test_a_topic_has_a_retention_only_with_the_delete_policy_and_a_limit() -> None:
    assert Retention.of({"cleanup.policy": "delete", "retention.ms": "2000",
                         "retention.bytes": "-1"}) == Retention(2000, None)
    assert Retention.of({"cleanup.policy": "delete", "retention.bytes": "500"}) == Retention(
        None, 500)
    assert Retention.of({"cleanup.policy": "compact", "retention.ms": "2000"}) is None
    assert Retention.of({"retention.ms": "2000"}) is None
    assert Retention.of({"cleanup.policy": "delete", "retention.ms": "-1"}) is None


def test_the_oldest_batches_past_the_retention_time_go_up_to_the_first_young_one(
    tmp_path: Path,
) -> None:
    old, young = NOW_MS - 10_000, NOW_MS - 1_000
    batches = [batch_file(tmp_path, 0, 3, old, 100), batch_file(tmp_path, 3, 2, old, 100),
               batch_file(tmp_path, 5, 1, young, 100), batch_file(tmp_path, 6, 1, old, 100),
               batch_file(tmp_path, 7, 1, young, 100)]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 3]
    assert [batch.last_offset for batch in going] == [2, 4]


def test_the_last_batch_stays_however_old(tmp_path: Path) -> None:
    batches = [batch_file(tmp_path, base, 1, NOW_MS - 60_000, 100) for base in range(3)]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 1]


def test_a_partition_over_its_bytes_drops_its_oldest_batches_until_it_fits(
    tmp_path: Path,
) -> None:
    batches = [batch_file(tmp_path, base, 1, NOW_MS, 100) for base in range(6)]
    going = expired(batches, Retention(None, 250), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 1, 2, 3]


def test_nothing_a_consumer_group_has_not_committed_past_goes(tmp_path: Path) -> None:
    batches = [batch_file(tmp_path, 0, 2, NOW_MS - 60_000, 100),
               batch_file(tmp_path, 2, 2, NOW_MS - 60_000, 100),
               batch_file(tmp_path, 4, 1, NOW_MS - 60_000, 100)]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=3)
    assert [batch.base_offset for batch in going] == [0]


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
        await admin.create_topics([
            NewTopic(AGED, 1, 1, topic_configs=timed),
            NewTopic(HELD, 1, 1, topic_configs=timed),
            NewTopic(SIZED, 1, 1, topic_configs={"cleanup.policy": "delete",
                                                 "retention.bytes": "3500"}),
            NewTopic(COMPACTED, 1, 1, topic_configs={"cleanup.policy": "compact",
                                                     "retention.ms": str(RETENTION_MS)}),
        ])
    finally:
        await admin.close()
    await write(servers, 5, minutes=-1)
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id="slow",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(HELD, 0)])
        await consumer.commit({TopicPartition(HELD, 0): 2})
    finally:
        await consumer.stop()


async def write(servers: str, count: int, minutes: int) -> None:
    """``count`` records to each topic, one batch each, timestamped ``minutes`` from now."""
    timestamp_ms = round((time.time() + 60 * minutes) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for _ in range(count):
            for topic in (AGED, SIZED, HELD, COMPACTED):
                await producer.send_and_wait(topic, RECORD, key=b"k", timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def first_offsets(servers: str) -> dict[str, int]:
    """Each topic's first offset, as the broker reports it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers)
    await consumer.start()
    try:
        offsets = await consumer.beginning_offsets(
            [TopicPartition(topic, 0) for topic in (AGED, SIZED, HELD, COMPACTED)])
    finally:
        await consumer.stop()
    return {partition.topic: offset for partition, offset in offsets.items()}


async def read_from_the_beginning(servers: str, topic: str) -> list[int]:
    """The offsets a new consumer group reads from the beginning of ``topic``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id=f"new-{topic}",
                                auto_offset_reset="earliest")
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
        assert firsts == {AGED: 5, SIZED: 5, HELD: 2, COMPACTED: 0}
        assert asyncio.run(read_from_the_beginning(servers, AGED)) == [5, 6, 7]
        assert asyncio.run(read_from_the_beginning(servers, HELD)) == [2, 3, 4, 5, 6, 7]
        assert asyncio.run(read_from_the_beginning(servers, COMPACTED)) == list(range(8))
    records = tmp_path / "broker/tansu/clusters/newswire-embedded/topics"
    assert len(list((records / AGED).glob("partitions/*/records/*.batch"))) == 3
