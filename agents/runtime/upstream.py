"""Which partitions of a topic have records a consumer group has not processed: the
sources the reorder buffer before the dedup decision waits for (see
:mod:`streams.reorder`).

A partition is *behind* while its end offset is past the group's committed offset: its
records are on their way (its worker is busy, or it crashed and the group has not yet
handed its partitions to another). One that is not behind is idle, and the reorder
buffer need not wait for it.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.runtime.broker import bootstrap_servers, tansu_end_offsets

log = logging.getLogger(__name__)


class UpstreamLag:
    """The partitions of ``topic`` (``partitions`` of them) that consumer group
    ``group`` is behind on, asked of the broker at ``broker_url`` (Tansu if ``tansu``,
    whose reported end offsets fall short when a partition's last batch holds several
    records: those partitions have their last batch read)."""

    def __init__(
        self, broker_url: str, group: str, topic: str, partitions: int, tansu: bool
    ) -> None:
        self.servers = bootstrap_servers(broker_url)
        self.group = group
        self.partitions = [TopicPartition(topic, number) for number in range(partitions)]
        self.tansu = tansu

    async def behind(self) -> frozenset[int]:
        """The partition numbers with records past the group's committed offset; none if
        the broker cannot say (then nothing waits longer than it would without this)."""
        try:
            committed = await self._committed()
            ends = await self._ends(committed)
        except Exception as error:  # the broker is away: wait no longer than usual
            log.warning("upstream lag of %s unknown: %r", self.partitions[0].topic, error)
            return frozenset()
        return frozenset(
            tp.partition for tp in self.partitions if ends.get(tp, 0) > committed.get(tp, 0)
        )

    async def _committed(self) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(
                self.group, partitions=self.partitions
            )
        finally:
            await admin.close()
        return {tp: max(0, meta.offset) for tp, meta in offsets.items()}

    async def _ends(self, committed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.servers, enable_auto_commit=False)
        await consumer.start()
        try:
            ends: dict[TopicPartition, int] = await consumer.end_offsets(self.partitions)
            if self.tansu:
                unsure = [
                    tp for tp, end in ends.items() if 0 < end <= committed.get(tp, 0)
                ]  # the reported end may fall inside a last batch the group is in
                if unsure:
                    ends |= await tansu_end_offsets(consumer, unsure, attempts=4)
            return ends
        finally:
            await consumer.stop()
