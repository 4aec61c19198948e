"""newswire's faust transport (``tansu://HOST:PORT``), made for Tansu, used in both modes.

faust's aiokafka transport with five changes. It is registered under the
``faust.transports`` entry point (see pyproject.toml) and used with either broker
profile, ``tansu`` or ``kafka`` (:func:`agents.runtime.app.faust_options`):
each change is needed on Tansu (``newswire broker`` included) and harmless on Kafka.

- A partition with no committed offset starts at its beginning after a rebalance
  (:meth:`TansuConsumerThread.seek_to_committed`).
- Records fetched across a rebalance or a seek are read again from the committed offsets
  (:meth:`TansuConsumer._wait_next_records`): faust would skip records of a partition
  taken over from a killed worker.
- No commit past a delivered record not yet acknowledged
  (:meth:`TansuConsumer._new_offset`).
- A short fetch wait (100 ms). Tansu answers a fetch only when its wait time runs
  out, even if records arrive meanwhile; faust waits up to 1.5 s per fetch, which
  would add that much latency to every hop of the pipeline. Each fetch costs the
  broker about 1 ms of CPU, so a shorter wait costs an idle pipeline more (50 ms:
  44 ms of broker CPU per second with two idle workers; 100 ms: 29 ms) and gave
  the same benchmark latency (p99 1.0–1.1 s either way). Kafka answers as soon as
  records arrive: there the shorter wait only makes an idle worker fetch more often.
- Table changelogs written one record per batch. Tansu reports a partition's end
  offset as the first offset of its last batch + 1, and faust recovers a table by
  reading its changelog up to that end offset, so a batched changelog would lose
  records on recovery, and a worker whose table is ahead of that end (one that
  survives another's crash) fail with faust's ConsistencyError. Every other topic is
  written in batches. On Kafka this costs a produce batch per table write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

logger = logging.getLogger(__name__)

TANSU_FETCH_MAX_WAIT_MS = 100
CHANGELOG_SUFFIX = "-changelog"


class TansuConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread, with a fetch wait that suits Tansu, and a seek that
    starts a partition with no committed offset at its beginning."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes 1500 ms and aiokafka reads the value at start().
        consumer._fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek each partition to its committed offset, and one with none to its beginning.

        aiokafka leaves a partition with no committed offset where its fetcher got to,
        and faust discards what was fetched before this seek (after a rebalance): a
        worker that takes over from one killed before its first commit would start at
        the end of such partitions and never see their records.
        """
        committed = await super().seek_to_committed()
        uncommitted = [tp for tp, offset in committed.items() if offset is None or offset < 0]
        if uncommitted and self.app.conf.consumer_auto_offset_reset == "earliest":
            await self.call_thread(self._ensure_consumer().seek_to_beginning, *uncommitted)
        return committed


class TansuConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer using :class:`TansuConsumerThread`: it reads again what
    it fetched across a rebalance or a seek, and commits no offset past a record held."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _new_offset(self, tp: TP) -> int | None:
        """faust's next offset to commit for ``tp``, but none while a record of it below
        the first one acknowledged was delivered and is not acknowledged yet.

        faust allows a head gap of one offset (it takes the committed offset for the
        last one processed), so a record acknowledged after the next one (the reorder
        buffer releases in ingest order, not offset order) was committed past while
        still held, and lost with a crash.
        """
        acked = self._acked[tp]
        if acked:
            first = min(acked)
            if any(
                message.tp == tp and message.offset < first and not message.acked
                for message in list(self._unacked_messages)
            ):
                return None
        offset: int | None = super()._new_offset(tp)
        return offset

    _seeks = 0
    """Seeks begun and ended (odd while one is under way)."""

    async def perform_seek(self) -> None:
        """faust's seek of every partition to its committed offset, counted."""
        self._seeks += 1
        try:
            await super().perform_seek()
        finally:
            self._seeks += 1

    async def _wait_next_records(self, timeout: float) -> tuple[RecordMap | None, set[TP] | None]:
        """The next records, unless a rebalance or a seek came while they were fetched:
        then none, and every partition sought to its committed offset again.

        faust fetches in the consumer's thread and takes the group generation once the
        records are back, so records fetched before a rebalance's seek can come after
        it, as if of the new generation. faust then reads on from the last of them and
        drops the records from the committed offset up to it as already read, although
        no stage has processed them: the partition skips them, and its commits stop
        there (a worker killed while another ran lost articles this way).
        """
        before = (self.app.consumer_generation_id, self._seeks)
        records, active = await super()._wait_next_records(timeout)
        after = (self.app.consumer_generation_id, self._seeks)
        if records and (after != before or self._seeks % 2):
            try:
                await self.perform_seek()
            except Exception as error:  # in a rebalance, whose own seek comes next
                logger.warning("seek after a rebalance failed: %r", error)
            return {}, active
        return records, active


class ChangelogSplittingProducer(aiokafka.AIOKafkaProducer):
    """An aiokafka producer that writes table changelogs (topics ending in
    ``-changelog``) through a second producer, one record per batch, and batches
    every other topic as configured."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._changelogs = aiokafka.AIOKafkaProducer(
            **{**options, "max_batch_size": 1, "linger_ms": 0}
        )

    async def start(self) -> None:
        await super().start()
        await self._changelogs.start()

    async def flush(self) -> None:
        await super().flush()
        await self._changelogs.flush()

    async def stop(self) -> None:
        await self._changelogs.stop()
        await super().stop()

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> Any:
        if topic.endswith(CHANGELOG_SUFFIX):
            return await self._changelogs.send(topic, value, key, partition, timestamp_ms, headers)
        return await super().send(topic, value, key, partition, timestamp_ms, headers)


class TansuProducer(faust_aiokafka.Producer):
    """faust's aiokafka producer using :class:`ChangelogSplittingProducer`."""

    @property
    def _producer_type(self) -> type[aiokafka.AIOKafkaProducer]:
        return ChangelogSplittingProducer


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport for the embedded Tansu broker."""

    Consumer = TansuConsumer
    Producer = TansuProducer
