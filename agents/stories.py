"""The story stage: its agents, with the story index in-process or partitioned through Kafka;
what they send, and when an article is placed, is decided in
:class:`streams.stories.flow.StoryFlow`.

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
from datetime import UTC, datetime, timedelta
from typing import cast

import faust
from faust.types import EventT, StreamT

from agents.runtime.context import StageContext, send_all
from agents.runtime.state import ArrivalLog, PartitionEntries
from schemas.graph import (
    STORY_INDEX_ARTICLES,
    STORY_INDEX_STAGE,
    STORY_PLACE_STAGE,
    STORY_STAGE,
    STORY_STATE,
    compacted_config,
)
from schemas.records import DedupedArticle, StoryIndexEntry, StoryIndexReply
from streams.stories.clusterer import IndexedArticle, StoryClusterer
from streams.stories.flow import StoryFlow, Waiting

_Held = tuple[StreamT, EventT]
"""A deduped article's message, acknowledged once the article is placed."""


class StoryAgents:
    """The story, story-index and story-place agents of ``pipeline``, and their tables."""

    def __init__(self, pipeline: StageContext) -> None:
        self.pipeline = pipeline
        settings = pipeline.settings
        self.partitions = settings.story_index_partitions
        app = pipeline.app
        json_schema: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
        # article id -> what rebuilds the in-memory clusterer after a restart
        self.story_log = ArrivalLog(
            app.Table(
                STORY_STATE.name,
                value_type=bytes,
                schema=faust.Schema(key_serializer="json", value_serializer="raw"),
                partitions=STORY_STATE.partition_count(settings.dedup_partitions, self.partitions),
                extra_topic_configs=compacted_config(settings.topic_retention_days),
            )
        )
        self.story_log.table.on_recover(self._restore_stories)
        app.on_partitions_revoked.connect(self._forget_waiting)
        self.index_articles = None
        if self.partitions:
            self.index_articles = app.Table(
                STORY_INDEX_ARTICLES.name,
                schema=json_schema,
                partitions=self.partitions,
                extra_topic_configs=compacted_config(settings.topic_retention_days),
            )
            self.index_articles.on_recover(self._forget_shards)
        self.flow: StoryFlow[_Held] = StoryFlow(
            partitions=self.partitions,
            cold_after=timedelta(days=settings.story_cold_days),
            reply_timeout=settings.story_index_timeout_seconds,
            log=self.story_log,
            index_entries=self._index_entries,
        )
        self.agents = {
            STORY_STAGE.name: self.story_agent,
            STORY_INDEX_STAGE.name: self.index_agent,
            STORY_PLACE_STAGE.name: self.place_agent,
        }

    @property
    def clusterer(self) -> StoryClusterer:
        """The story clusterer (a new one after a recovery)."""
        return self.flow.clusterer

    def single_partition_topics(self) -> list[str]:
        """The topics that stay with the story agent's input: its table's changelog, and
        the index's replies if the index goes through Kafka."""
        topics = [self.story_log.table.changelog_topic.get_topic_name()]
        if self.partitions:
            topics.append(self.pipeline.topics[STORY_PLACE_STAGE.reads.role].get_topic_name())
        return topics

    def partitioned_stages(self) -> list[set[str]]:
        """With 1 or more partitions, the story-index stage: its input topic and its
        table's changelog."""
        if self.index_articles is None:
            return []
        return [
            {
                self.pipeline.topics[STORY_INDEX_STAGE.reads.role].get_topic_name(),
                self.index_articles.changelog_topic.get_topic_name(),
            }
        ]

    def _index_entries(self, partition: int) -> PartitionEntries[IndexedArticle]:
        assert self.index_articles is not None, "the story index is in-process"
        return PartitionEntries(self.index_articles, partition, IndexedArticle.from_json)

    async def _forget_waiting(self, *_: object, **__: object) -> None:
        """On a rebalance: the waiting articles' messages were not acknowledged, so
        they come again (from the committed offset) to whichever worker gets them."""
        self.flow.forget_waiting()

    async def _restore_stories(self) -> None:
        self.flow.restore(self.story_log.recovered_entries())

    async def _forget_shards(self) -> None:
        self.flow.forget_shards()

    # -- story -----------------------------------------------------------------

    async def story_agent(self, stream: StreamT) -> None:
        """deduped -> stories.index (or, in-process, stories and enriched)."""
        stream = cast(faust.Stream[bytes], stream).noack()
        async for event in stream.events():
            await self._admit(stream, event)
            await self._place_ready()

    async def place_agent(self, stream: StreamT) -> None:
        """stories.candidates -> stories + enriched: the waiting articles, in order."""
        async for event in stream.events():
            await self.pipeline.guarded(STORY_PLACE_STAGE.name, event, self._take_reply)
            await self._place_ready()

    async def _admit(self, stream: StreamT, event: EventT) -> None:
        """Admit a deduped article and send its probes; dead-letter it if that fails."""
        article: DedupedArticle | None = None
        try:
            self.pipeline.check_size(event)
            article = DedupedArticle.from_json(event.value)
            await send_all(
                self.pipeline,
                self.flow.admit(
                    (stream, event),
                    article,
                    event.message.offset,
                    datetime.now(UTC),
                    time.monotonic(),
                ),
            )
        except Exception as exc:
            if article is not None:
                self.flow.withdraw((stream, event), article.id)
            await self.pipeline.dead_letter(STORY_STAGE.name, event, exc)
            await stream.ack(event)

    async def _take_reply(self, event: EventT) -> None:
        self.flow.take_reply(StoryIndexReply.from_json(event.value))

    async def _place_ready(self) -> None:
        """Place the waiting articles, in order, for as long as the first is ready; one
        whose reply never came is dead-lettered. Each message is acknowledged then."""
        while ready := self.flow.next_ready(time.monotonic()):
            waiting, timed_out = ready
            stream, event = waiting.held
            if timed_out is not None:
                await self.pipeline.dead_letter(STORY_STAGE.name, event, timed_out)
            else:

                async def place(_event: EventT, waiting: Waiting[_Held] = waiting) -> None:
                    await send_all(self.pipeline, self.flow.place(waiting))

                await self.pipeline.guarded(STORY_STAGE.name, event, place)
            await stream.ack(event)

    # -- story index -----------------------------------------------------------

    async def index_agent(self, stream: StreamT) -> None:
        """stories.index -> stories.candidates: the earlier articles sharing the most keys."""
        await self.pipeline.each_event(STORY_INDEX_STAGE.name, stream, self._index_one)

    async def _index_one(self, event: EventT) -> None:
        entry = StoryIndexEntry.from_json(event.value)
        await send_all(self.pipeline, self.flow.index(entry, event.message.partition))
