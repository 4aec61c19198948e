"""The dedup stage's orchestration, apart from faust: the reorder buffer before the
decision, the routing of an article's keys to the shards that hold them, the fan-out of
probes and reports, and what goes where (see :mod:`agents.dedup` for the agents).

With one partition, :meth:`DedupFlow.route` probes the one shard and decides at once,
and only the deduped article goes out. With more, it sends one probe per shard holding
keys of the article and one to its home partition (:func:`streams.keyindex.key_partition`
of its id) carrying the article; :meth:`DedupFlow.shard` answers a probe with a report to
the home partition, or at home decides; :meth:`DedupFlow.decide` takes a report.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import Any, Generic, TypeVar

from schemas.graph import DEDUP_PROBES, DEDUP_REPORTS, DEDUPED
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
from streams.outgoing import Outgoing
from streams.reorder import ReorderBuffer
from streams.revisions import Revision

HeldT = TypeVar("HeldT")


def _arrival(record: DedupProbe | DedupReport) -> Arrival:
    return Arrival(record.arrived_at, record.sequence)


def _revision(record: DedupProbe | DedupReport) -> Revision:
    return Revision(record.revision, record.fetched_at or record.arrived_at, record.content_hash)


def _carried_article(
    probe: DedupProbe, partition: int, home: int
) -> tuple[TaggedArticle, int] | None:
    """The article and its shard count, if the probe carries them (only to its home)."""
    if probe.article is None:
        return None
    if partition != home or probe.shards_total is None:
        raise ValueError(
            f"a probe carrying its article must come with shards_total to its "
            f"home partition {home} (came to {partition})"
        )
    return probe.article, probe.shards_total


class DedupFlow(Generic[HeldT]):
    """The dedup stage over ``partitions`` shards, each shard's articles in
    ``shard_entries(partition)`` and every decision in ``decisions`` (the tables).

    Articles ingested through ``sources`` raw partitions wait (as ``HeldT``, what the
    agent needs to handle them later) in the reorder buffer until every source has
    caught up, or ``max_wait`` seconds (``stalled_wait`` while a source is behind).
    """

    def __init__(
        self,
        *,
        partitions: int,
        retention: timedelta,
        sources: int,
        max_wait: float,
        stalled_wait: float | None = None,
        shard_entries: Callable[[int], MutableMapping[str, ShardArticle]],
        decisions: MutableMapping[str, Any],
    ) -> None:
        self.partitions = partitions
        self.retention = retention
        self.rules = MatchRules()
        self.clock = ArrivalClock()
        self.reorder: ReorderBuffer[HeldT] = ReorderBuffer(
            sources=sources, max_wait=max_wait, stalled_wait=stalled_wait
        )
        self.shard_entries = shard_entries
        self.decisions = decisions
        self._shards: dict[int, KeyShard] = {}
        self._collectors: dict[int, ShardReportCollector] = {}

    # -- ingest order ----------------------------------------------------------

    def hold(
        self, source: int | None, article: TaggedArticle, offset: int, held: HeldT, now: float
    ) -> list[HeldT]:
        """Add ``held`` (``article`` at ``offset``, ingested through raw partition
        ``source``) to the reorder buffer; what it releases, in ingest order. An article
        with no known source is released at once."""
        if source is None:
            return [held]
        return self.reorder.add(source, article.fetched_at, offset, held, now)

    def overdue(self, now: float) -> list[HeldT]:
        """What has waited in the reorder buffer for ``max_wait`` seconds."""
        return self.reorder.due(now) if len(self.reorder) else []

    def forget_held(self) -> None:
        """Drop what the reorder buffer holds (its messages come again)."""
        self.reorder.clear()

    def forget_partitions(self) -> None:
        """Rebuild each partition's state from the tables when next needed."""
        self._shards.clear()
        self._collectors.clear()

    # -- the three steps -------------------------------------------------------

    def route(self, article: TaggedArticle, offset: int) -> list[Outgoing]:
        """What a released ``article`` (read at ``offset``) sends: with one partition its
        verdict, decided here; else its probes."""
        signature = Signature.of(article.text, article.fingerprint)
        arrival = self.clock.stamp(article.fetched_at, offset)
        if self.partitions == 1:
            revision = Revision.of(article)
            matches = self._shard(0).probe(
                article.id, arrival, signature, probe_keys(signature), revision
            )
            return self._deduped(
                self._collector(0).add_article(
                    article.id,
                    arrival,
                    revision,
                    1,
                    article.model_dump(mode="json"),
                    home_report=(0, matches),
                )
            )
        return self._probes(article, arrival, signature)

    def _probes(
        self, article: TaggedArticle, arrival: Arrival, signature: Signature
    ) -> list[Outgoing]:
        shards = keys_by_partition(probe_keys(signature), self.partitions)
        home = key_partition(article.id, self.partitions)
        signature_record = DedupSignature.model_validate(signature.to_json())
        # A later revision goes to every shard: those holding keys of an earlier one drop them.
        probed = range(self.partitions) if article.revision > 1 else shards.keys() | {home}
        probes: list[Outgoing] = []
        for partition in sorted(probed):
            at_home = partition == home
            probe = DedupProbe(
                article_id=article.id,
                keys=shards.get(partition, []),
                signature=signature_record,
                arrived_at=arrival.time,
                sequence=arrival.seq,
                revision=article.revision,
                content_hash=article.content_hash,
                fetched_at=article.fetched_at,
                article=article if at_home else None,
                shards_total=len(shards) if at_home else None,
            )
            probes.append(Outgoing(DEDUP_PROBES, article.id, probe.to_json(), partition))
        return probes

    def shard(self, probe: DedupProbe, partition: int) -> list[Outgoing]:
        """What ``probe``, read on ``partition``, sends: the earlier articles its
        article copies, as a report to its home partition, or at home its verdict."""
        home = key_partition(probe.article_id, self.partitions)
        carried = _carried_article(probe, partition, home)
        arrival, revision = _arrival(probe), _revision(probe)
        signature = Signature.from_json(probe.signature.model_dump())
        matches = self._shard(partition).probe(
            probe.article_id, arrival, signature, probe.keys, revision
        )
        if carried is None:
            if not probe.keys:  # sent only to drop an earlier revision's keys
                return []
            report = DedupReport(
                article_id=probe.article_id,
                arrived_at=probe.arrived_at,
                sequence=probe.sequence,
                shard=partition,
                revision=probe.revision,
                content_hash=probe.content_hash,
                fetched_at=probe.fetched_at,
                matches=matches,
            )
            return [Outgoing(DEDUP_REPORTS, report.article_id, report.to_json(), home)]
        article, shards_total = carried
        return self._deduped(
            self._collector(partition).add_article(
                probe.article_id,
                arrival,
                revision,
                shards_total,
                article.model_dump(mode="json"),
                home_report=(partition, matches) if probe.keys else None,
            )
        )

    def decide(self, report: DedupReport, partition: int) -> list[Outgoing]:
        """What ``report``, read on ``partition``, sends: the verdict, once the article and
        all its reports are in."""
        return self._deduped(
            self._collector(partition).add_report(
                report.article_id,
                _arrival(report),
                _revision(report),
                report.shard,
                report.matches,
            )
        )

    @staticmethod
    def _deduped(decided: VerdictWithArticle | None) -> list[Outgoing]:
        if decided is None:
            return []
        verdict = decided.verdict
        deduped = extended_json(decided.payload, dedup=verdict, duplicate_of=verdict.duplicate_of)
        return [Outgoing(DEDUPED, verdict.article_id, deduped)]

    def _shard(self, partition: int) -> KeyShard:
        if partition not in self._shards:
            self._shards[partition] = KeyShard(
                self.rules, retention=self.retention, articles=self.shard_entries(partition)
            )
        return self._shards[partition]

    def _collector(self, partition: int) -> ShardReportCollector:
        if partition not in self._collectors:
            self._collectors[partition] = ShardReportCollector(
                retention=self.retention,
                entries=self.decisions,
                ids=[i for i in self.decisions if key_partition(i, self.partitions) == partition],
            )
        return self._collectors[partition]
