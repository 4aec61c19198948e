"""The dedup stage as three agents, with its index partitioned through Kafka; what they
send is decided in :class:`streams.dedup.flow.DedupFlow`.

- **route** (``tagged``, one partition, so in ingest order): the article's
  signature and keys (:func:`streams.dedup.index.probe_keys`), grouped by the partition
  that holds each key; one probe per partition (its keys and the signature) to
  ``dedup.probes``. The probe to the article's home partition
  (:func:`streams.keyindex.key_partition` of its id), where its verdict is decided,
  also carries the article: it is sent there even if that shard holds no key.
- **shard** (``dedup.probes``): :class:`streams.dedup.index.KeyShard` per partition, on
  the ``dedup-shard-articles`` table (``"partition/article id"`` -> arrival, keys
  and signature: written once per article and partition, deleted when the
  article has left every bucket there). The buckets (key -> most recent
  articles) live in memory, rebuilt from the table after a recovery; the table
  holds each entry decoded (:class:`streams.dedup.index.ShardArticle`, written to
  its changelog as JSON), the one copy the shard reads. The earlier articles a
  probe's article copies go to its home partition: on ``dedup.reports``, or, at
  home, straight to its report collector with the article.
- **decide** (``dedup.reports``): :class:`streams.dedup.index.ShardReportCollector` per
  partition, on the ``dedup-decisions`` table (article id -> pending state with the article, then
  the verdict in its place); once the article and all its reports are in, the
  deduped article goes to ``deduped``.

Both topics have ``Settings.dedup_partitions`` partitions and the tables are
co-partitioned with them, so with N partitions up to N workers share the index, and
a partition's probes, reports and decisions are on one worker. Keys and article ids are placed on
partitions explicitly, and a shard entry's table key names its partition: each
partition's state can then be told apart when it is rebuilt after a recovery,
and eviction only deletes entries of the partition being processed. Per article,
this costs one probe per shard holding keys of it (plus one to its home
partition if that holds none) and one report per shard away from home.

With one partition (the default) there is nothing to route: the route agent probes
the one shard and decides itself (:meth:`streams.dedup.flow.DedupFlow.route`), after the
reorder buffer, and writes only ``deduped``; the ``dedup.probes`` and
``dedup.reports`` topics and the shard and decide agents do not exist. The tables
are the same, so the index is rebuilt after a restart as on the partitioned path.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, cast

import faust
from faust import current_event
from faust.types import EventT, StreamT, TableT

from agents.runtime.context import StageContext, send_all
from agents.runtime.headers import ingest_partition
from agents.runtime.state import PartitionEntries, compact_recovered
from agents.runtime.upstream import UpstreamLag
from schemas.graph import (
    DECISIONS,
    DEDUP_DECIDE_STAGE,
    DEDUP_ROUTE_STAGE,
    DEDUP_SHARD_STAGE,
    RAW,
    SHARD_ARTICLES,
    TableSpec,
    compacted_config,
)
from schemas.records import DedupProbe, DedupReport, TaggedArticle
from streams.dedup.flow import DedupFlow
from streams.dedup.index import ShardArticle, compact_decision

REORDER_TICK_SECONDS = 0.1
"""How often the reorder buffer is checked for articles whose wait has run out."""

UPSTREAM_PROBE_SECONDS = 0.5
"""How often, while an article has waited its ``reorder_max_wait_seconds``, the raw
partitions the workers are behind on are asked of the broker."""

_Held = tuple[StreamT, EventT, TaggedArticle]
"""An article waiting in the reorder buffer, with the stream and event it came in."""


class DedupAgents:
    """The route, shard and decide agents of ``pipeline``, and their tables."""

    def __init__(self, pipeline: StageContext) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        app = pipeline.app
        json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")

        def table(spec: TableSpec) -> TableT[str, Any]:
            created = app.Table(
                spec.name,
                schema=json_schema,
                partitions=spec.partition_count(
                    settings.dedup_partitions, settings.story_index_partitions
                ),
                extra_topic_configs=compacted_config(settings.topic_retention_days),
            )
            created.on_recover(self._forget_partitions)
            return created

        self.shard_articles = table(SHARD_ARTICLES)
        self.decisions = table(DECISIONS)
        self.partitions = settings.dedup_partitions
        self.flow: DedupFlow[_Held] = DedupFlow(
            partitions=self.partitions,
            retention=timedelta(days=settings.dedup_retention_days),
            sources=settings.partitions,
            max_wait=settings.reorder_max_wait_seconds,
            stalled_wait=settings.reorder_stalled_wait_seconds,
            shard_entries=lambda partition: PartitionEntries(
                self.shard_articles, partition, ShardArticle.from_json
            ),
            decisions=self.decisions,
        )
        self.reorder = self.flow.reorder
        self.upstream = UpstreamLag(
            settings.broker_url or "",
            app.conf.id,
            RAW.name(settings.topic_prefix),
            settings.partitions,
            settings.tansu_profile,
        )
        self._probed_at = -UPSTREAM_PROBE_SECONDS
        self.agents = {
            DEDUP_ROUTE_STAGE.name: self.route_agent,
            DEDUP_SHARD_STAGE.name: self.shard_agent,
            DEDUP_DECIDE_STAGE.name: self.decide_agent,
        }
        app.timer(REORDER_TICK_SECONDS)(self._route_overdue)
        app.on_partitions_revoked.connect(self._forget_held)

    def _changelogs(self) -> list[str]:
        return [
            table.changelog_topic.get_topic_name()
            for table in (self.shard_articles, self.decisions)
        ]

    def single_partition_topics(self) -> list[str]:
        """The topics that stay with the route agent's input: with one partition, the
        tables' changelogs (the route agent holds the index)."""
        return self._changelogs() if self.partitions == 1 else []

    def partitioned_stages(self) -> list[set[str]]:
        """With 2 or more partitions, the shard and decide stages, each as its input topic
        and its table's changelog."""
        if self.partitions == 1:
            return []
        topics = self.pipeline.topics
        shard_changelog, decisions_changelog = self._changelogs()
        return [
            {topics[DEDUP_SHARD_STAGE.reads.role].get_topic_name(), shard_changelog},
            {topics[DEDUP_DECIDE_STAGE.reads.role].get_topic_name(), decisions_changelog},
        ]

    async def _forget_partitions(self) -> None:
        """After a recovery (or rebalance): rebuild each partition's state from the tables,
        the decisions recovered as JSON held as :class:`streams.dedup.index.Decision`."""
        compact_recovered(self.decisions, compact_decision)
        self.flow.forget_partitions()

    # -- route -----------------------------------------------------------------

    async def route_agent(self, stream: StreamT) -> None:
        """tagged -> dedup.probes (or, with one partition, deduped), in ingest order.

        An article carrying the raw partition it was ingested through (the tag stage's
        header) waits in the reorder buffer, unacknowledged, until the articles of every
        partition have caught up with it or ``reorder_max_wait_seconds`` have passed; one
        without (written by another producer) is routed as it comes.
        """
        stream = cast(faust.Stream[bytes], stream).noack()
        async for event in stream.events():
            if article := await self._read(stream, event):
                await self._route_released(
                    self.flow.hold(
                        ingest_partition(event),
                        article,
                        event.message.offset,
                        (stream, event, article),
                        time.monotonic(),
                    )
                )

    async def _read(self, stream: StreamT, event: EventT) -> TaggedArticle | None:
        """The event's article; None if it cannot be read (then it is dead-lettered)."""
        try:
            self.pipeline.check_size(event)
            return TaggedArticle.from_json(event.value)
        except Exception as exc:
            await self.pipeline.dead_letter(DEDUP_ROUTE_STAGE.name, event, exc)
            await stream.ack(event)
            return None

    async def _route_overdue(self, *_: object) -> None:
        """Route the articles whose wait in the reorder buffer has run out; while one has
        waited ``reorder_max_wait_seconds``, learn which raw partitions are behind."""
        now = time.monotonic()
        if self.reorder.waited_past_max(now) and now - self._probed_at >= UPSTREAM_PROBE_SECONDS:
            self._probed_at = now
            self.reorder.behind = await self.upstream.behind()
        await self._route_released(self.flow.overdue(time.monotonic()))

    async def _forget_held(self, *_: object, **__: object) -> None:
        """On a rebalance: the held articles were not acknowledged, so they come again."""
        self.flow.forget_held()

    async def _route_released(self, released: list[_Held]) -> None:
        """Route each released article as the handling of its own event, also when the
        timer releases it: table writes go to the partition of the event being handled,
        and a timer handles none."""
        handling = current_event()
        for stream, event, article in released:

            async def route(event: EventT, article: TaggedArticle = article) -> None:
                await send_all(self.pipeline, self.flow.route(article, event.message.offset))

            handled = cast(faust.Stream[bytes], stream)
            handled._set_current_event(event)
            try:
                await self.pipeline.guarded(DEDUP_ROUTE_STAGE.name, event, route)
            finally:
                handled._set_current_event(handling)
            await stream.ack(event)

    # -- shard and decide ------------------------------------------------------

    async def shard_agent(self, stream: StreamT) -> None:
        """dedup.probes -> dedup.reports, or at home -> deduped: the earlier articles
        each probe's article copies."""
        await self.pipeline.each_event(DEDUP_SHARD_STAGE.name, stream, self._shard_one)

    async def _shard_one(self, event: EventT) -> None:
        probe = DedupProbe.from_json(event.value)
        await send_all(self.pipeline, self.flow.shard(probe, event.message.partition))

    async def decide_agent(self, stream: StreamT) -> None:
        """dedup.reports -> deduped: the verdict once the article and all reports are in."""
        await self.pipeline.each_event(DEDUP_DECIDE_STAGE.name, stream, self._decide_one)

    async def _decide_one(self, event: EventT) -> None:
        report = DedupReport.from_json(event.value)
        await send_all(self.pipeline, self.flow.decide(report, event.message.partition))
