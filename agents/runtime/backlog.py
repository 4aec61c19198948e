"""Which partitions of a topic still hold records the pipeline has not passed on: the
backlog the reorder buffer before the dedup decision waits for (see
:mod:`streams.reorder`).

A partition's backlog starts at the later of two offsets: the one after the last record
its stage was seen to pass on, and the app's consumer group's committed offset (which
also covers records that stage dead-lettered). Whether records lie beyond is found by
fetching from there: on Tansu the end offsets a broker reports are those of the first
record of each partition's last batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

BACKLOG_FETCH_SECONDS = 0.25
"""How long a look for records beyond each partition's position fetches at most."""
BACKLOG_FETCH_WAIT_MS = 50
"""The fetch wait of that look (Tansu answers a fetch only when its wait runs out)."""


class PartitionBacklog:
    """The backlog of topics read by consumer group ``group_id``, on the broker at
    ``bootstrap_servers`` (a client of its own, started on first use)."""

    def __init__(self, bootstrap_servers: str, group_id: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def pending(
        self, topic: str, partitions: Iterable[int], passed: Mapping[int, int]
    ) -> set[int]:
        """The ``partitions`` of ``topic`` holding records at or after both ``passed``
        (per partition, the offset after the last record seen passed on) and the
        group's committed offset."""
        admin, consumer = await self._clients()
        wanted = [TopicPartition(topic, partition) for partition in partitions]
        if not wanted:
            return set()
        committed = await admin.list_consumer_group_offsets(self.group_id, partitions=wanted)
        consumer.assign(wanted)
        for partition in wanted:
            at = committed.get(partition)
            consumer.seek(
                partition, max(passed.get(partition.partition, 0), at.offset if at else 0, 0)
            )
        found: set[int] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BACKLOG_FETCH_SECONDS
        try:
            while len(found) < len(wanted) and (left := deadline - loop.time()) > 0:
                fetched = await consumer.getmany(*wanted, timeout_ms=max(1, int(left * 1000)))
                found |= {partition.partition for partition, records in fetched.items() if records}
        finally:
            consumer.pause(*wanted)  # nothing more fetched until the next look
        return found

    async def stop(self) -> None:
        """Close the clients, if started."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                # A position past the end (Tansu's reported end lags) has nothing beyond.
                auto_offset_reset="latest",
                fetch_max_wait_ms=BACKLOG_FETCH_WAIT_MS,
                max_partition_fetch_bytes=1,  # one batch a partition is enough to know
            )
            await admin.start()
            await consumer.start()
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer
