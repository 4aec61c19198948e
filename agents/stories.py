"""The story stage: its agents, with the story index in-process or partitioned through Kafka.

With ``NEWSWIRE_STORY_INDEX_PARTITIONS=0`` (the default) the story agent keeps the
index in its clusterer and places each article as it reads it
(:meth:`streams.stories.clusterer.StoryClusterer.look_up`, then ``place``); the story-index
and story-place agents, their topics and table do not exist. With 1 or more partitions:

- **story** (``deduped``, one partition): for each deduped article, in order, the
  clusterer admits it and gives its index keys
  (:meth:`streams.stories.clusterer.StoryClusterer.index_keys`); the keys go, grouped by the
  partition that holds them, to ``stories.index``. The article waits in memory,
  unacknowledged, until every partition it probed has replied.
- **story-place** (``stories.candidates``, one partition, on the story agent's
  worker): collects the replies; articles are placed in the order they came, as
  soon as the first waiting one has all its replies (a copy, which probes nothing,
  as soon as those before it are placed). Its story goes to ``stories`` if it
  changed, the article with its story id to ``enriched``, and what rebuilds the
  clusterer to the ``story-state`` table. Only then is the deduped message
  acknowledged: after a crash, unplaced articles come again and probe again.
- **story-index** (``stories.index``): :func:`streams.stories.clusterer.story_index` per
  partition, on the ``story-index-articles`` table (``"partition/article id"`` ->
  arrival and keys). Each probe finds the earlier articles sharing the most keys,
  adds the article (idempotent: a probe that comes again is not added twice, and
  finds only articles that arrived before it; a later revision's replaces its keys
  there) and replies on ``stories.candidates``.

An update of an article (:mod:`streams.revisions`) is admitted, probes and is
placed like a new article, in place of its old revision's member; when it moves to
another story, the story it left goes to ``stories`` too, in its new version. Its
enriched article goes out again with its revision: a consumer keeps, per article
id, the highest revision. Its old revision's keys on partitions it no longer probes
stay there until they expire (they point to the article, now in its current story).

Neither agent waits on the other: the story agent goes on reading and probing, and
the replies come through their own stream, so a full input buffer cannot hold them up.
Per original article this costs one probe and one reply per partition holding keys
of it (copies and redeliveries do not probe), and one table write per such partition.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TableT

from agents.runtime.context import StageContext
from agents.runtime.state import ArrivalLog, PartitionEntries
from schemas.records import (
    DedupedArticle,
    StoryCandidate,
    StoryIndexEntry,
    StoryIndexReply,
    extended_json,
)
from streams.errors import Rejected
from streams.keyindex import (
    Arrival,
    ArrivalClock,
    Candidate,
    KeyBuckets,
    keys_by_partition,
    merge_candidates,
)
from streams.stories.clusterer import (
    IndexedArticle,
    StoryClusterer,
    enter_revision,
    story_index,
)


@dataclass
class _AwaitingPlacement:
    """A deduped article between its probes and its placement."""

    stream: StreamT
    event: EventT
    article: DedupedArticle
    seen_at: datetime
    shards: set[int]
    since: float = field(default_factory=time.monotonic)
    candidates: list[tuple[str, int]] = field(default_factory=list)


class StoryAgents:
    """The story, story-index and story-place agents of ``pipeline``, and their tables."""

    def __init__(self, pipeline: StageContext) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        self.partitions = settings.story_index_partitions
        self.cold_after = timedelta(days=settings.story_cold_days)
        self.reply_timeout = settings.story_index_timeout_seconds
        self.clusterer = self._new_clusterer()
        self.clock = ArrivalClock()
        self._waiting: deque[_AwaitingPlacement] = deque()
        self._shards: dict[int, KeyBuckets[IndexedArticle]] = {}
        app = pipeline.app
        json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
        # article id -> what rebuilds the in-memory clusterer after a restart
        self.story_log = ArrivalLog(app.Table("story-state", partitions=1, schema=json_schema))
        self.story_log.table.on_recover(self._restore_stories)
        app.on_partitions_revoked.connect(self._forget_waiting)
        topics = pipeline.topics
        app.agent(topics["deduped"], name="story")(self.story_agent)
        self.index_articles: TableT[str, Any] | None = None
        if self.partitions:
            self.index_articles = app.Table(
                "story-index-articles", partitions=self.partitions, schema=json_schema
            )
            self.index_articles.on_recover(self._forget_shards)
            app.agent(topics["stories.index"], name="story-index")(self.index_agent)
            app.agent(topics["stories.candidates"], name="story-place")(self.place_agent)

    def single_partition_topics(self) -> list[str]:
        """The topics that stay with the story agent's input: its table's changelog, and
        the index's replies if the index goes through Kafka."""
        topics = [self.story_log.table.changelog_topic.get_topic_name()]
        if self.partitions:
            topics.append(self.pipeline.topics["stories.candidates"].get_topic_name())
        return topics

    def partitioned_stages(self) -> list[set[str]]:
        """With 1 or more partitions, the story-index stage: its input topic and its
        table's changelog."""
        if self.index_articles is None:
            return []
        return [{self.pipeline.topics["stories.index"].get_topic_name(),
                 self.index_articles.changelog_topic.get_topic_name()}]

    def _new_clusterer(self) -> StoryClusterer:
        return StoryClusterer(cold_after=self.cold_after, local_index=not self.partitions)

    async def _forget_waiting(self, *_: object, **__: object) -> None:
        """On a rebalance: the waiting articles' messages were not acknowledged, so
        they come again (from the committed offset) to whichever worker gets them."""
        for waiting in self._waiting:
            self.clusterer.discard(waiting.article.id)
        self._waiting.clear()

    async def _restore_stories(self) -> None:
        self.clusterer = self._new_clusterer()
        self._waiting.clear()
        for entry in self.story_log.recovered_entries():
            self.clusterer.restore(entry)

    async def _forget_shards(self) -> None:
        self._shards.clear()

    # -- story -----------------------------------------------------------------

    async def story_agent(self, stream: StreamT) -> None:
        """deduped -> stories.index: each article's keys, to the partitions holding them."""
        stream = cast(faust.Stream[bytes], stream).noack()
        async for event in stream.events():
            await self._admit(stream, event)
            await self._place_ready()

    async def place_agent(self, stream: StreamT) -> None:
        """stories.candidates -> stories + enriched: the waiting articles, in order."""
        async for event in stream.events():
            await self.pipeline.guarded("story-place", event, self._take_reply)
            await self._place_ready()

    async def _admit(self, stream: StreamT, event: EventT) -> None:
        """Admit a deduped article and send its probes; dead-letter it if that fails."""
        article: DedupedArticle | None = None
        try:
            self.pipeline.check_size(event)
            article = DedupedArticle.from_json(event.value)
            seen_at = datetime.now(UTC)
            (keys,) = self.clusterer.index_keys([article], seen_at)
            if not self.partitions:  # the index is in-process: nothing to wait for
                candidates = self.clusterer.look_up(article, keys, seen_at)
                self._waiting.append(
                    _AwaitingPlacement(stream, event, article, seen_at, set(),
                                       candidates=candidates))
                return
            arrival = self.clock.stamp(self.clusterer.clock_time(article, seen_at),
                                      event.message.offset)
            shards = keys_by_partition(keys, self.partitions)
            self._waiting.append(_AwaitingPlacement(stream, event, article, seen_at, set(shards)))
            for partition, shard_keys in shards.items():
                entry = StoryIndexEntry(article_id=article.id, arrived_at=arrival.time,
                                        sequence=arrival.seq, revision=article.revision,
                                        keys=shard_keys)
                await self.pipeline.send("stories.index", article.id, entry.to_json(),
                                         partition=partition)
        except Exception as exc:
            if article is not None:
                self.clusterer.discard(article.id)
                if self._waiting and self._waiting[-1].event is event:
                    self._waiting.pop()
            await self.pipeline.dead_letter("story", event, exc)
            await stream.ack(event)

    async def _take_reply(self, event: EventT) -> None:
        reply = StoryIndexReply.from_json(event.value)
        for waiting in self._waiting:
            if waiting.article.id == reply.article_id and reply.shard in waiting.shards:
                waiting.shards.discard(reply.shard)
                waiting.candidates += [(c.article_id, c.shared_keys) for c in reply.candidates]
                return
        # else: a reply for an article already placed, or from before a restart

    async def _place_ready(self) -> None:
        """Place the waiting articles, in order, for as long as the first is complete
        (or has waited ``story_index_timeout_seconds`` for a reply: then it is
        dead-lettered)."""
        while self._waiting:
            waiting = self._waiting[0]
            if waiting.shards and time.monotonic() - waiting.since < self.reply_timeout:
                return
            self._waiting.popleft()
            if waiting.shards:
                self.clusterer.discard(waiting.article.id)
                missing = ", ".join(map(str, sorted(waiting.shards)))
                timeout = Rejected("story_index_timeout",
                                   f"no reply from story-index partition(s) {missing} "
                                   f"within {self.reply_timeout:g} s")
                await self.pipeline.dead_letter("story", waiting.event, timeout)
            else:
                async def place(_event: EventT, waiting: _AwaitingPlacement = waiting) -> None:
                    await self._place(waiting)

                await self.pipeline.guarded("story", waiting.event, place)
            await waiting.stream.ack(waiting.event)

    async def _place(self, waiting: _AwaitingPlacement) -> None:
        article = waiting.article
        candidates = merge_candidates(waiting.candidates)
        try:
            story, changed = self.clusterer.place(article, waiting.seen_at, candidates)
        except Exception:
            self.clusterer.discard(article.id)
            raise
        if changed:
            self.story_log.append(article.id, self.clusterer.entry(article.id))
        # A redelivered article sends its story again: the story state may have kept the
        # article while the story's send was lost with a killed worker.
        for changed_story in [story, *self.clusterer.left_stories()]:
            await self.pipeline.send("stories", changed_story.story_id, changed_story.to_json())
        # Members of retired stories are not needed to rebuild the live ones.
        self.story_log.prune(keep=self.clusterer.__contains__)
        enriched = extended_json(article.model_dump(mode="json"), story_id=story.story_id)
        await self.pipeline.send("enriched", article.id, enriched)

    # -- story index -----------------------------------------------------------

    async def index_agent(self, stream: StreamT) -> None:
        """stories.index -> stories.candidates: the earlier articles sharing the most keys."""
        await self.pipeline.each_event("story-index", stream, self._index_one)

    async def _index_one(self, event: EventT) -> None:
        entry = StoryIndexEntry.from_json(event.value)
        partition = event.message.partition
        held = IndexedArticle(Arrival(entry.arrived_at, entry.sequence), tuple(entry.keys),
                              entry.revision)
        found = enter_revision(self._shard(partition), entry.article_id, held)
        reply = StoryIndexReply(article_id=entry.article_id, shard=partition,
                                candidates=[_candidate_record(c) for c in found])
        await self.pipeline.send("stories.candidates", entry.article_id, reply.to_json())

    def _shard(self, partition: int) -> KeyBuckets[IndexedArticle]:
        assert self.index_articles is not None, "the story index is in-process"
        if partition not in self._shards:
            self._shards[partition] = story_index(
                self.cold_after,
                PartitionEntries(self.index_articles, partition, IndexedArticle.from_json),
            )
        return self._shards[partition]


def _candidate_record(candidate: Candidate[IndexedArticle]) -> StoryCandidate:
    return StoryCandidate(article_id=candidate.article_id, shared_keys=candidate.shared_keys)
