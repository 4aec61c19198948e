"""The raw partitions' backlog the reorder buffer waits for, found on the real Tansu broker:
records beyond what was passed on and beyond the group's committed offset, inside a batch
too (Tansu reports the end of a batched partition as its last batch's first offset + 1)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.runtime.backlog import PartitionBacklog
from agents.runtime.broker import EmbeddedBroker, bootstrap_servers

RECORDS = 10


async def backlogs(broker: EmbeddedBroker) -> dict[str, set[int]]:
    """``RECORDS`` records in one batch on partition 0 of a two-partition topic (1 stays
    empty); the pending partitions for several positions and committed offsets."""
    topic, group = f"t{uuid.uuid4().hex[:8]}.articles.raw", f"g{uuid.uuid4().hex[:8]}"
    servers = bootstrap_servers(broker.url)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(topic, b"value", partition=0) for _ in range(RECORDS)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    backlog = PartitionBacklog(servers, group)
    found: dict[str, set[int]] = {}
    try:
        found["nothing passed on"] = await backlog.pending(topic, [0, 1], {})
        found["passed on into the batch"] = await backlog.pending(topic, [0, 1], {0: 6})
        found["passed on all"] = await backlog.pending(topic, [0, 1], {0: RECORDS})
        await commit(servers, group, TopicPartition(topic, 0), 7)
        found["committed into the batch"] = await backlog.pending(topic, [0, 1], {0: 3})
        await commit(servers, group, TopicPartition(topic, 0), RECORDS)
        found["committed all"] = await backlog.pending(topic, [0, 1], {0: 3})
    finally:
        await backlog.stop()
    return found


async def commit(servers: str, group: str, partition: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group)
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.commit({partition: offset})
    finally:
        await consumer.stop()


def test_a_partition_is_pending_while_records_lie_beyond_what_was_passed_on_and_committed(
    broker: EmbeddedBroker,
) -> None:
    assert asyncio.run(backlogs(broker)) == {
        "nothing passed on": {0},
        "passed on into the batch": {0},
        "passed on all": set(),
        "committed into the batch": {0},
        "committed all": set(),
    }
