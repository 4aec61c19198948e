"""The story stage's orchestration, apart from faust: the articles waiting for the story
index's replies, the reply timeout, the order of placement (which message may be
acknowledged), and what goes where (see :mod:`agents.stories` for the agents).

With the index in-process (no partitions) an admitted article has its candidates at
once and waits only for those before it. With partitions, :meth:`StoryFlow.admit`
gives its probes, :meth:`StoryFlow.index` answers one on its partition, and
:meth:`StoryFlow.take_reply` takes the answer; :meth:`StoryFlow.next_ready` gives the
first waiting article once it is complete, or has waited ``reply_timeout`` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from schemas.graph import ENRICHED, STORIES, STORY_CANDIDATES, STORY_INDEX
from schemas.records import (
    DedupedArticle,
    StoryCandidate,
    StoryIndexEntry,
    StoryIndexReply,
    extended_json,
)
from streams.errors import Rejected
from streams.keyindex import Arrival, ArrivalClock, KeyBuckets, keys_by_partition, merge_candidates
from streams.outgoing import Outgoing
from streams.stories.clusterer import IndexedArticle, StoryClusterer, enter_revision, story_index

HeldT = TypeVar("HeldT")


class StoryLog(Protocol):
    """Where the clusterer's entries go, to rebuild it after a restart."""

    def append(self, article_id: str, entry: dict[str, Any]) -> None:
        """Record ``article_id``'s entry."""

    def prune(self, keep: Callable[[str], bool]) -> None:
        """Delete the oldest entries for as long as they are not kept."""


@dataclass
class Waiting(Generic[HeldT]):
    """A deduped article between its probes and its placement, with ``held`` (what the
    agent acknowledges once it is placed)."""

    held: HeldT
    article: DedupedArticle
    seen_at: datetime
    since: float
    shards: set[int]
    candidates: list[tuple[str, int]] = field(default_factory=list)


class StoryFlow(Generic[HeldT]):
    """The story stage with its index in-process (``partitions`` 0) or split over
    ``partitions`` (each partition's articles in ``index_entries(partition)``); what
    rebuilds the clusterer goes to ``log``."""

    def __init__(
        self,
        *,
        partitions: int,
        cold_after: timedelta,
        reply_timeout: float,
        log: StoryLog,
        index_entries: Callable[[int], MutableMapping[str, IndexedArticle]],
    ) -> None:
        self.partitions = partitions
        self.cold_after = cold_after
        self.reply_timeout = reply_timeout
        self.log = log
        self.index_entries = index_entries
        self.clusterer = self._new_clusterer()
        self.clock = ArrivalClock()
        self.waiting: deque[Waiting[HeldT]] = deque()
        self._shards: dict[int, KeyBuckets[IndexedArticle]] = {}

    def _new_clusterer(self) -> StoryClusterer:
        return StoryClusterer(cold_after=self.cold_after, local_index=not self.partitions)

    def restore(self, entries: Iterable[dict[str, Any]]) -> None:
        """A new clusterer from the log's ``entries`` (after a recovery); nothing waits."""
        self.clusterer = self._new_clusterer()
        self.waiting.clear()
        for entry in entries:
            self.clusterer.restore(entry)

    def forget_waiting(self) -> None:
        """Drop the waiting articles (on a rebalance: their messages come again)."""
        for waiting in self.waiting:
            self.clusterer.discard(waiting.article.id)
        self.waiting.clear()

    def forget_shards(self) -> None:
        """Rebuild each index partition from its entries when next needed."""
        self._shards.clear()

    def admit(
        self, held: HeldT, article: DedupedArticle, offset: int, seen_at: datetime, now: float
    ) -> list[Outgoing]:
        """Admit ``article`` (read at ``offset``) to wait for its placement; its probes."""
        (keys,) = self.clusterer.index_keys([article], seen_at)
        if not self.partitions:  # the index is in-process: nothing to wait for
            candidates = self.clusterer.look_up(article, keys, seen_at)
            self.waiting.append(Waiting(held, article, seen_at, now, set(), candidates))
            return []
        arrival = self.clock.stamp(self.clusterer.clock_time(article, seen_at), offset)
        shards = keys_by_partition(keys, self.partitions)
        self.waiting.append(Waiting(held, article, seen_at, now, set(shards)))
        return [
            Outgoing(
                STORY_INDEX,
                article.id,
                StoryIndexEntry(
                    article_id=article.id,
                    arrived_at=arrival.time,
                    sequence=arrival.seq,
                    revision=article.revision,
                    keys=shard_keys,
                ).to_json(),
                partition,
            )
            for partition, shard_keys in shards.items()
        ]

    def withdraw(self, held: HeldT, article_id: str) -> None:
        """Undo the admission of ``article_id`` (held as ``held``), which failed."""
        self.clusterer.discard(article_id)
        if self.waiting and self.waiting[-1].held is held:
            self.waiting.pop()

    def take_reply(self, reply: StoryIndexReply) -> None:
        """Add an index partition's candidates to the article waiting for them."""
        for waiting in self.waiting:
            if waiting.article.id == reply.article_id and reply.shard in waiting.shards:
                waiting.shards.discard(reply.shard)
                waiting.candidates += [(c.article_id, c.shared_keys) for c in reply.candidates]
                return
        # else: a reply for an article already placed, or from before a restart

    def next_ready(self, now: float) -> tuple[Waiting[HeldT], Rejected | None] | None:
        """The first waiting article, taken out, if it has all its replies (with None) or
        has waited ``reply_timeout`` seconds for one (with why it is dropped); else None.
        Articles are placed, and their messages acknowledged, in this order."""
        if not self.waiting:
            return None
        waiting = self.waiting[0]
        if waiting.shards and now - waiting.since < self.reply_timeout:
            return None
        self.waiting.popleft()
        if not waiting.shards:
            return waiting, None
        self.clusterer.discard(waiting.article.id)
        missing = ", ".join(map(str, sorted(waiting.shards)))
        return waiting, Rejected(
            "story_index_timeout",
            f"no reply from story-index partition(s) {missing} within {self.reply_timeout:g} s",
        )

    def place(self, waiting: Waiting[HeldT]) -> list[Outgoing]:
        """Place a ready article: its story (and any it left), then the enriched article."""
        article = waiting.article
        candidates = merge_candidates(waiting.candidates)
        try:
            story, changed = self.clusterer.place(article, waiting.seen_at, candidates)
        except Exception:
            self.clusterer.discard(article.id)
            raise
        if changed:
            self.log.append(article.id, self.clusterer.entry(article.id))
        # A redelivered article sends its story again: the story state may have kept the
        # article while the story's send was lost with a killed worker.
        outgoing = [
            Outgoing(STORIES, changed_story.story_id, changed_story.to_json())
            for changed_story in [story, *self.clusterer.left_stories()]
        ]
        # Members of retired stories are not needed to rebuild the live ones.
        self.log.prune(keep=self.clusterer.__contains__)
        enriched = extended_json(article.model_dump(mode="json"), story_id=story.story_id)
        return [*outgoing, Outgoing(ENRICHED, article.id, enriched)]

    def index(self, entry: StoryIndexEntry, partition: int) -> list[Outgoing]:
        """The reply of index ``partition`` to ``entry``: the earlier articles sharing the
        most keys (the article is added, once)."""
        held = IndexedArticle(
            Arrival(entry.arrived_at, entry.sequence), tuple(entry.keys), entry.revision
        )
        found = enter_revision(self._shard(partition), entry.article_id, held)
        reply = StoryIndexReply(
            article_id=entry.article_id,
            shard=partition,
            candidates=[
                StoryCandidate(article_id=c.article_id, shared_keys=c.shared_keys) for c in found
            ],
        )
        return [Outgoing(STORY_CANDIDATES, entry.article_id, reply.to_json())]

    def _shard(self, partition: int) -> KeyBuckets[IndexedArticle]:
        if partition not in self._shards:
            self._shards[partition] = story_index(self.cold_after, self.index_entries(partition))
        return self._shards[partition]
