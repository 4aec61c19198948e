"""Which raw partitions a consumer group is behind on, as the reorder buffer asks the
real broker (one record per batch and several alike)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.runtime.broker import EmbeddedBroker, bootstrap_servers
from agents.runtime.upstream import UpstreamLag


async def _write(servers: str, topic: str, partition: int, count: int, batched: bool) -> None:
    """``count`` records to ``partition``: in one batch, or one batch each."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=100)
    await producer.start()
    try:
        if batched:
            sent = [await producer.send(topic, b"x", partition=partition) for _ in range(count)]
            await asyncio.gather(*sent)
        else:
            for _ in range(count):
                await producer.send_and_wait(topic, b"x", partition=partition)
    finally:
        await producer.stop()


async def _commit(servers: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def test_a_partition_is_behind_while_it_has_records_past_the_groups_commit(
    broker: EmbeddedBroker,
) -> None:
    servers, topic, group = bootstrap_servers(broker.url), f"lag-{uuid.uuid4().hex}", "g"
    lag = UpstreamLag(broker.url, group, topic, 2, tansu=True)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    async def run() -> list[frozenset[int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 2, 1)])
        await admin.close()
        seen = [await lag.behind()]  # nothing written: nothing behind
        await _write(servers, topic, 0, 3, batched=False)
        await _write(servers, topic, 1, 5, batched=True)  # Tansu reports its end short
        seen.append(await lag.behind())
        await _commit(servers, group, {p0: 3, p1: 3})
        seen.append(await lag.behind())  # p1's last two records are not committed past
        await _commit(servers, group, {p1: 5})
        seen.append(await lag.behind())
        return seen

    assert asyncio.run(run()) == [frozenset(), {0, 1}, {1}, frozenset()]
