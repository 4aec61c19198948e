"""Inverted index of recent articles by key, partitionable by key.

The dedup index (:class:`streams.dedup.index.KeyShard`) and the story index
(:class:`streams.stories.clusterer.StoryClusterer`) both find candidates this way: an article
enters under its keys, and it finds the earlier articles that share the most keys
with it. Each key keeps only its most recent articles and entries expire with a
retention window, so the work per article and the state stay bounded however many
articles have been seen. Keys are plain strings, so the index can be split by
:func:`key_partition` over Kafka partitions: one :class:`KeyBuckets` per partition
(an index may hold them in memory in any hashable form, see
:class:`streams.dedup.index.ShardArticle`).
"""

from __future__ import annotations

import zlib
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar


@dataclass(frozen=True, order=True, slots=True)
class Arrival:
    """When an article reached a stage: a time, then a sequence for ties."""

    time: datetime
    seq: int

    def to_json(self) -> dict[str, Any]:
        """JSON-able form, as the stages' table entries hold it."""
        return {"arrived_at": self.time.isoformat(), "sequence": self.seq}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Arrival:
        """The arrival in a table entry (the inverse of :meth:`to_json`)."""
        return cls(datetime.fromisoformat(data["arrived_at"]), int(data["sequence"]))


class ArrivalClock:
    """Arrivals in processing order: the time never goes back, the sequence breaks ties.

    An article processed after another always arrives after it, even when its own
    time is earlier; so the order in which articles are processed decides which of
    two is the earlier.
    """

    def __init__(self) -> None:
        self._latest: Arrival | None = None

    def stamp(self, time: datetime, seq: int | None = None) -> Arrival:
        """Arrival of an article at ``time``; ``seq`` defaults to one more than the last."""
        latest = self._latest
        if latest is not None:
            time = max(time, latest.time)
        if seq is None:
            seq = latest.seq + 1 if latest is not None else 0
        self._latest = Arrival(time, seq)
        return self._latest


def key_partition(key: str, partitions: int) -> int:
    """The partition (of ``partitions``) that holds ``key``: stable across processes."""
    return zlib.crc32(key.encode()) % partitions


def keys_by_partition(keys: Iterable[str], partitions: int) -> dict[int, list[str]]:
    """``keys`` grouped by the partition that holds them: one probe per shard."""
    grouped: dict[int, list[str]] = {}
    for key in keys:
        grouped.setdefault(key_partition(key, partitions), []).append(key)
    return grouped


class IndexEntry(Protocol):
    """What an index holds of an article: at least its arrival and its keys there."""

    @property
    def arrival(self) -> Arrival: ...

    @property
    def keys(self) -> tuple[Hashable, ...]: ...


IndexEntryT = TypeVar("IndexEntryT", bound=IndexEntry)


@dataclass(frozen=True, slots=True)
class Candidate(Generic[IndexEntryT]):
    """An earlier article found under an article's keys, and how many keys they share."""

    article_id: str
    shared_keys: int
    held: IndexEntryT


class KeyBuckets(Generic[IndexEntryT]):
    """Key -> the most recent articles under it: one partition of an index.

    The state is ``articles`` (article id -> what is held of it; a changelog-backed
    table in the pipeline): one write when an article enters, one delete when it
    has left every bucket. The buckets are derived from it in memory, and rebuilt
    in arrival order when the index is created from a filled mapping (which must
    hold only this partition's articles). Most keys are held by one article, so a
    bucket is the article id itself until a second article enters under its key,
    then a list of ids (see :meth:`bucket`).

    Each bucket keeps at most ``max_bucket`` entries (the most recent), and an
    article finds at most ``max_candidates`` earlier ones (those sharing the most
    keys with it), which bounds the work per article when keys are common; entries
    that arrived more than ``retention`` before the newest arrival are evicted,
    which bounds the state. A key more than ``common_key_articles`` articles
    entered within the retention (None: no limit) tells little about which of
    them an article resembles: it is not looked up, only counted.
    """

    def __init__(
        self,
        *,
        retention: timedelta,
        max_bucket: int,
        max_candidates: int,
        common_key_articles: int | None = None,
        articles: MutableMapping[str, IndexEntryT] | None = None,
    ) -> None:
        self.retention = retention
        self.max_bucket = max_bucket
        self.max_candidates = max_candidates
        self.common_key_articles = common_key_articles
        self.articles: MutableMapping[str, IndexEntryT] = {} if articles is None else articles
        self.buckets: dict[Hashable, str | list[str]] = {}
        self._order: deque[tuple[Arrival, str, tuple[Hashable, ...]]] = deque()  # one per article
        self._holders: Counter[str] = Counter()
        self._entered: Counter[Hashable] = Counter()  # key -> its entries within the retention
        # (counted only when common keys are skipped)
        self._newest: datetime | None = None
        for article_id, held in sorted(self.articles.items(), key=lambda item: item[1].arrival):
            self._newest = held.arrival.time
            self._place(article_id, held)

    def enter(self, article_id: str, held: IndexEntryT) -> list[Candidate[IndexEntryT]]:
        """The earlier articles sharing the most of ``held.keys``, most shared first;
        then add the article.

        Idempotent: an article held already is not added again, and finds only the
        entries still held that arrived before it, never itself.
        """
        self._evict(held.arrival.time)
        own = self.articles.get(article_id)
        before = held.arrival if own is None else own.arrival
        limit = self.common_key_articles
        shared = Counter(
            entry
            for key in held.keys
            if limit is None or self._entered[key] <= limit
            for entry in self.bucket(key)
        )
        # Usually all but the article itself are earlier: rank only the top first.
        found = self._earlier(shared.most_common(self.max_candidates + 1), before)
        if len(found) < self.max_candidates < len(shared):
            found = self._earlier(shared.most_common(), before)
        if own is None and not self._expired(held.arrival.time):
            self.articles[article_id] = held
            self._place(article_id, held)
        return found

    def bucket(self, key: Hashable) -> list[str]:
        """The ids of the articles under ``key``, oldest first."""
        bucket = self.buckets.get(key)
        if bucket is None:
            return []
        return [bucket] if isinstance(bucket, str) else bucket

    def remove(self, article_id: str) -> None:
        """Take ``article_id`` out of every bucket and of ``articles`` (before a new
        revision of it enters under its own keys)."""
        held = self.articles.pop(article_id, None)
        if held is None:
            return
        for key in held.keys:
            self._drop(key, article_id)
        self._holders.pop(article_id, None)

    def _earlier(
        self, ranked: list[tuple[str, int]], before: Arrival
    ) -> list[Candidate[IndexEntryT]]:
        """The first ``max_candidates`` of ``ranked`` that arrived before ``before``."""
        found: list[Candidate[IndexEntryT]] = []
        for candidate, count in ranked:
            earlier = self.articles[candidate]
            if earlier.arrival < before:  # not later, nor the article itself
                found.append(Candidate(candidate, count, earlier))
                if len(found) == self.max_candidates:
                    break
        return found

    def _place(self, article_id: str, held: IndexEntryT) -> None:
        """Put the article under its keys, pushing the oldest out of full buckets."""
        self._order.append((held.arrival, article_id, held.keys))
        counted = self.common_key_articles is not None
        for key in held.keys:
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = bucket = article_id
            elif isinstance(bucket, str):
                self.buckets[key] = bucket = [bucket, article_id]
            else:
                bucket.append(article_id)
            self._holders[article_id] += 1
            if counted:
                self._entered[key] += 1
            if not isinstance(bucket, str) and len(bucket) > self.max_bucket:
                self._release(self._pop_oldest(key))

    def _pop_oldest(self, key: Hashable) -> str:
        """Take the oldest article out of the (full) bucket of ``key``."""
        bucket = self.buckets[key]
        assert isinstance(bucket, list), "a bucket over its limit holds two articles or more"
        oldest = bucket.pop(0)
        if len(bucket) == 1:
            self.buckets[key] = bucket[0]
        return oldest

    def _drop(self, key: Hashable, article_id: str) -> bool:
        """Take ``article_id`` out of the bucket of ``key``; whether it was there."""
        bucket = self.bucket(key)
        kept = [entry for entry in bucket if entry != article_id]
        if len(kept) == len(bucket):
            return False
        if len(kept) > 1:
            self.buckets[key] = kept
        elif kept:
            self.buckets[key] = kept[0]
        else:
            del self.buckets[key]
        return True

    def _release(self, article_id: str) -> None:
        """One bucket less holds ``article_id``; the index forgets it with the last one."""
        self._holders[article_id] -= 1
        if self._holders[article_id] <= 0:
            del self._holders[article_id]
            self.articles.pop(article_id, None)

    def _expired(self, time: datetime) -> bool:
        return self._newest is not None and time < self._newest - self.retention

    def _evict(self, time: datetime) -> None:
        """Forget the entries that arrived more than ``retention`` before the newest."""
        if self._newest is None or time > self._newest:
            self._newest = time
        while self._order and self._expired(self._order[0][0].time):
            arrival, article_id, keys = self._order.popleft()
            held = self.articles.get(article_id)
            # A revision that entered since holds the buckets now: its entries stay.
            replaced = held is not None and (held.keys != keys or held.arrival != arrival)
            for key in keys:
                if key in self._entered:
                    self._entered[key] -= 1
                    if not self._entered[key]:
                        del self._entered[key]
                # not if pushed out of the bucket earlier
                if not replaced and self._drop(key, article_id):
                    self._release(article_id)


def merge_candidates(found: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Candidates several partitions found for one article, as (article id, keys
    shared): summed per article, those sharing the most keys first."""
    shared: Counter[str] = Counter()
    for article_id, count in found:
        shared[article_id] += count
    return shared.most_common()
