"""The dedup stage as three agents, with its index partitioned through Kafka.

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
  articles) and the decoded signatures live in memory, rebuilt from the table
  after a recovery. The earlier articles a probe's article copies go to its home
  partition: on ``dedup.reports``, or, at home, straight to its report collector with the
  article.
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
the one shard and decides itself (:meth:`DedupAgents._decide_here`), after the
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

from agents.runtime.context import StageContext
from agents.runtime.headers import ingest_partition
from agents.runtime.state import PartitionEntries
from schemas.records import (
    DedupProbe,
    DedupReport,
    DedupSignature,
    TaggedArticle,
    extended_json,
)
from streams.dedup.index import (
    KeyShard,
    MatchRules,
    ShardArticle,
    ShardReportCollector,
    Signature,
    VerdictWithArticle,
    probe_keys,
)
from streams.keyindex import Arrival, ArrivalClock, key_partition, keys_by_partition
from streams.reorder import ReorderBuffer
from streams.revisions import Revision

REORDER_TICK_SECONDS = 0.1
"""How often the reorder buffer is checked for articles whose wait has run out."""


def _arrival(record: DedupProbe | DedupReport) -> Arrival:
    return Arrival(record.arrived_at, record.sequence)


def _revision(record: DedupProbe | DedupReport) -> Revision:
    return Revision(record.revision, record.fetched_at or record.arrived_at,
                    record.content_hash)


def _carried_article(
    probe: DedupProbe, partition: int, home: int
) -> tuple[TaggedArticle, int] | None:
    """The article and its shard count, if the probe carries them (only to its home)."""
    if probe.article is None:
        return None
    if partition != home or probe.shards_total is None:
        raise ValueError(f"a probe carrying its article must come with shards_total to its "
                         f"home partition {home} (came to {partition})")
    return probe.article, probe.shards_total


class DedupAgents:
    """The route, shard and decide agents of ``pipeline``, and their tables."""

    def __init__(self, pipeline: StageContext) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        self.partitions = settings.dedup_partitions
        self.retention = timedelta(days=settings.dedup_retention_days)
        self.rules = MatchRules()
        self.clock = ArrivalClock()
        self.reorder: ReorderBuffer[tuple[StreamT, EventT, TaggedArticle]] = ReorderBuffer(
            sources=settings.partitions, max_wait=settings.reorder_max_wait_seconds
        )
        app = pipeline.app
        json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")

        def table(name: str) -> TableT[str, Any]:
            created = app.Table(name, partitions=self.partitions, schema=json_schema)
            created.on_recover(self._forget_partitions)
            return created

        self.shard_articles = table("dedup-shard-articles")
        self.decisions = table("dedup-decisions")
        self._shards: dict[int, KeyShard] = {}
        self._collectors: dict[int, ShardReportCollector] = {}

        topics = pipeline.topics
        app.agent(topics["tagged"], name="dedup-route")(self.route_agent)
        if self.partitions > 1:
            app.agent(topics["dedup.probes"], name="dedup-shard")(self.shard_agent)
            app.agent(topics["dedup.reports"], name="dedup-decide")(self.decide_agent)
        app.timer(REORDER_TICK_SECONDS)(self._route_overdue)
        app.on_partitions_revoked.connect(self._forget_held)

    def _changelogs(self) -> list[str]:
        return [table.changelog_topic.get_topic_name()
                for table in (self.shard_articles, self.decisions)]

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
        return [{topics["dedup.probes"].get_topic_name(), shard_changelog},
                {topics["dedup.reports"].get_topic_name(), decisions_changelog}]

    async def _forget_partitions(self) -> None:
        """After a recovery (or rebalance): rebuild each partition's state from the tables."""
        self._shards.clear()
        self._collectors.clear()

    # -- route -----------------------------------------------------------------

    async def route_agent(self, stream: StreamT) -> None:
        """tagged -> dedup.probes: one per shard holding keys, and one to the home partition,
        in ingest order (see :mod:`streams.reorder`).

        An article carrying the raw partition it was ingested through (the tag stage's
        header) waits in the reorder buffer, unacknowledged, until the articles of every
        partition have caught up with it or ``reorder_max_wait_seconds`` have passed; one
        without (written by another producer) is routed as it comes.
        """
        stream = cast(faust.Stream[bytes], stream).noack()
        async for event in stream.events():
            try:
                self.pipeline.check_size(event)
                article = TaggedArticle.from_json(event.value)
            except Exception as exc:
                await self.pipeline.dead_letter("dedup-route", event, exc)
                await stream.ack(event)
                continue
            source = ingest_partition(event)
            if source is None:
                await self._route_released([(stream, event, article)])
                continue
            released = self.reorder.add(source, article.fetched_at, event.message.offset,
                                        (stream, event, article), time.monotonic())
            await self._route_released(released)

    async def _route_overdue(self, *_: object) -> None:
        """Route the articles whose wait in the reorder buffer has run out."""
        if len(self.reorder):
            await self._route_released(self.reorder.due(time.monotonic()))

    async def _forget_held(self, *_: object, **__: object) -> None:
        """On a rebalance: the held articles were not acknowledged, so they come again."""
        self.reorder.clear()

    async def _route_released(self, released: list[tuple[StreamT, EventT, TaggedArticle]]) -> None:
        """Route (or, with one partition, decide) each released article as the handling of
        its own event, also when the timer releases it: table writes go to the
        partition of the event being handled, and a timer handles none."""
        handling = current_event()
        for stream, event, article in released:

            async def route(event: EventT, article: TaggedArticle = article) -> None:
                await self._route_one(event, article)

            handled = cast(faust.Stream[bytes], stream)
            handled._set_current_event(event)
            try:
                await self.pipeline.guarded("dedup-route", event, route)
            finally:
                handled._set_current_event(handling)
            await stream.ack(event)

    async def _route_one(self, event: EventT, article: TaggedArticle) -> None:
        if self.partitions == 1:
            await self._decide_here(event, article)
        else:
            await self._send_probes(event, article)

    async def _decide_here(self, event: EventT, article: TaggedArticle) -> None:
        """With one partition: probe the one shard and decide in this agent, with no
        Kafka hop (the same shard and decision as the partitioned path)."""
        signature = Signature.of(article.text, article.fingerprint)
        arrival = self.clock.stamp(article.fetched_at, event.message.offset)
        revision = Revision.of(article)
        matches = self._shard(0).probe(article.id, arrival, signature, probe_keys(signature),
                                       revision)
        decided = self._collector(0).add_article(article.id, arrival, revision, 1,
                                               article.model_dump(mode="json"),
                                               home_report=(0, matches))
        await self._send_deduped(decided)

    async def _send_probes(self, event: EventT, article: TaggedArticle) -> None:
        signature = Signature.of(article.text, article.fingerprint)
        shards = keys_by_partition(probe_keys(signature), self.partitions)
        home = key_partition(article.id, self.partitions)
        arrival = self.clock.stamp(article.fetched_at, event.message.offset)
        signature_record = DedupSignature.model_validate(signature.to_json())
        # A later revision goes to every shard: those holding keys of an earlier one drop them.
        probed = range(self.partitions) if article.revision > 1 else shards.keys() | {home}
        for partition in sorted(probed):
            at_home = partition == home
            probe = DedupProbe(
                article_id=article.id, keys=shards.get(partition, []),
                signature=signature_record, arrived_at=arrival.time, sequence=arrival.seq,
                revision=article.revision, content_hash=article.content_hash,
                fetched_at=article.fetched_at,
                article=article if at_home else None,
                shards_total=len(shards) if at_home else None,
            )
            await self.pipeline.send("dedup.probes", article.id, probe.to_json(),
                                     partition=partition)

    # -- shard -----------------------------------------------------------------

    async def shard_agent(self, stream: StreamT) -> None:
        """dedup.probes -> dedup.reports, or at home -> deduped: the earlier articles
        each probe's article copies."""
        await self.pipeline.each_event("dedup-shard", stream, self._shard_one)

    async def _shard_one(self, event: EventT) -> None:
        probe = DedupProbe.from_json(event.value)
        partition = event.message.partition
        home = key_partition(probe.article_id, self.partitions)
        carried = _carried_article(probe, partition, home)
        arrival, revision = _arrival(probe), _revision(probe)
        signature = Signature.from_json(probe.signature.model_dump())
        matches = self._shard(partition).probe(probe.article_id, arrival, signature,
                                               probe.keys, revision)
        if carried is None:
            if not probe.keys:  # sent only to drop an earlier revision's keys
                return
            report = DedupReport(article_id=probe.article_id, arrived_at=probe.arrived_at,
                                 sequence=probe.sequence, shard=partition,
                                 revision=probe.revision, content_hash=probe.content_hash,
                                 fetched_at=probe.fetched_at, matches=matches)
            await self.pipeline.send("dedup.reports", report.article_id, report.to_json(),
                                     partition=home)
            return
        article, shards_total = carried
        decided = self._collector(partition).add_article(
            probe.article_id, arrival, revision, shards_total, article.model_dump(mode="json"),
            home_report=(partition, matches) if probe.keys else None,
        )
        await self._send_deduped(decided)

    def _shard(self, partition: int) -> KeyShard:
        if partition not in self._shards:
            self._shards[partition] = KeyShard(
                self.rules, retention=self.retention,
                articles=PartitionEntries(self.shard_articles, partition,
                                          ShardArticle.from_json),
            )
        return self._shards[partition]

    # -- decide ----------------------------------------------------------------

    async def decide_agent(self, stream: StreamT) -> None:
        """dedup.reports -> deduped: the verdict once the article and all reports are in."""
        await self.pipeline.each_event("dedup-decide", stream, self._decide_one)

    async def _decide_one(self, event: EventT) -> None:
        report = DedupReport.from_json(event.value)
        decided = self._collector(event.message.partition).add_report(
            report.article_id, _arrival(report), _revision(report), report.shard,
            report.matches,
        )
        await self._send_deduped(decided)

    async def _send_deduped(self, decided: VerdictWithArticle | None) -> None:
        if decided is not None:
            verdict = decided.verdict
            deduped = extended_json(decided.payload, dedup=verdict,
                                    duplicate_of=verdict.duplicate_of)
            await self.pipeline.send("deduped", verdict.article_id, deduped)

    def _collector(self, partition: int) -> ShardReportCollector:
        if partition not in self._collectors:
            self._collectors[partition] = ShardReportCollector(
                retention=self.retention, entries=self.decisions,
                ids=[i for i in self.decisions
                     if key_partition(i, self.partitions) == partition],
            )
        return self._collectors[partition]
