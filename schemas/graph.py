"""The one place that declares every topic: name, partitions, key, record type, the stage
that writes it, and its configuration (cleanup policy, retention, record size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.records import (
    CleanArticle,
    DeadLetter,
    DedupedArticle,
    DedupProbe,
    DedupReport,
    EnrichedArticle,
    RawArticle,
    Record,
    Story,
    StoryIndexEntry,
    StoryIndexReply,
    TaggedArticle,
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the pipeline.

    ``partitions`` is None for topics that scale with ``Settings.partitions``, or
    with the partitions of the index they serve (``Settings.dedup_partitions`` or
    ``Settings.story_index_partitions``); the stages that must see the whole stream
    in order (dedup routing, stories) read single-partition topics (see
    docs/architecture.md).
    """

    role: str
    suffix: str
    record: type[Record]
    key: str
    partitions: int | None
    description: str
    index: Literal["dedup", "story"] | None = None
    """The index whose Kafka path it serves (it exists only when that index is
    partitioned through Kafka, see :meth:`used`)."""
    written_by: str | None = None
    """The stage that sends to it (None: several, or an input outside the worker)."""
    retention: Literal["time", "dead letters", "compacted"] = "time"
    """What it keeps: records for ``Settings.topic_retention_days``, dead letters for
    ``Settings.dead_letter_retention_days``, or the latest record of each key."""

    def name(self, prefix: str) -> str:
        """Full topic name under ``prefix``."""
        return f"{prefix}.{self.suffix}"

    def partition_count(
        self, partitions: int, dedup_partitions: int, story_index_partitions: int
    ) -> int:
        """Partitions to create, given the configured counts."""
        if self.partitions is not None:
            return self.partitions
        if self.index is None:
            return partitions
        if self.index == "dedup":
            return dedup_partitions
        return story_index_partitions

    def used(self, dedup_partitions: int, story_index_partitions: int) -> bool:
        """Whether the pipeline has this topic, given the configured counts: an index's
        topics only when it goes through Kafka (2 or more dedup partitions; 1 or more
        story-index partitions), not when its stage holds it in-process."""
        if self.index == "dedup":
            return dedup_partitions > 1
        if self.index == "story":
            return story_index_partitions > 0
        return True

    def config(
        self,
        *,
        retention_days: float,
        dead_letter_retention_days: float,
        retention_bytes: int,
        max_message_bytes: int,
    ) -> dict[str, str]:
        """The Kafka topic configuration to create it with: a compacted topic keeps the
        latest record of each key for ever, the others delete what is older than their
        retention, or over ``retention_bytes`` a partition (-1: no limit)."""
        config = {"max.message.bytes": str(max_message_bytes)}
        if self.retention == "compacted":
            return config | {"cleanup.policy": "compact"}
        days = dead_letter_retention_days if self.retention == "dead letters" else retention_days
        return config | {"cleanup.policy": "delete",
                         "retention.ms": str(round(days * DAY_MS)),
                         "retention.bytes": str(retention_bytes)}


DAY_MS = 24 * 3600 * 1000

RAW = TopicSpec("raw", "articles.raw", RawArticle, "article id", None,
                "Raw articles from feeds and archive replays.")
CLEAN = TopicSpec("clean", "articles.clean", CleanArticle, "article id", None,
                  "Clean text and metadata.", written_by="clean")
TAGGED = TopicSpec("tagged", "articles.tagged", TaggedArticle, "article id", 1,
                   "Clean articles with canonical entities; input of the dedup stage.",
                   written_by="tag")
DEDUPED = TopicSpec("deduped", "articles.deduped", DedupedArticle, "article id", 1,
                    "Tagged articles with their dedup verdict; input of the story stage.",
                    written_by="dedup-decide")
DEDUP_PROBES = TopicSpec("dedup.probes", "dedup.probes", DedupProbe, "candidate key", None,
                         "Internal: one probe per candidate key of an article, to its shard.",
                         index="dedup", written_by="dedup-route")
DEDUP_REPORTS = TopicSpec("dedup.reports", "dedup.reports", DedupReport, "article id", None,
                          "Internal: an article and its shards' matches, to its decision.",
                          index="dedup", written_by="dedup-shard")
ENRICHED = TopicSpec("enriched", "articles.enriched", EnrichedArticle, "article id", None,
                     "Final articles: text, entities, dedup verdict and story id.",
                     written_by="story")
STORY_INDEX = TopicSpec("stories.index", "stories.index", StoryIndexEntry, "article id", None,
                        "Internal: an article's index keys held by one story-index partition.",
                        index="story", written_by="story")
STORY_CANDIDATES = TopicSpec("stories.candidates", "stories.candidates", StoryIndexReply,
                             "article id", 1,
                             "Internal: a story-index partition's candidates for an article.",
                             index="story", written_by="story-index")
STORIES = TopicSpec("stories", "stories", Story, "story id", None,
                    "Latest version of a story on every change; compacted by story id, "
                    "so it holds every story's current version.",
                    written_by="story", retention="compacted")
DEAD_LETTERS = TopicSpec("deadletter", "deadletter", DeadLetter, "article id (if known)", None,
                         "Messages a stage could not process, with stage and reason.",
                         retention="dead letters")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    RAW, CLEAN, TAGGED, DEDUP_PROBES, DEDUP_REPORTS, DEDUPED, STORY_INDEX, STORY_CANDIDATES,
    ENRICHED, STORIES, DEAD_LETTERS,
)


def topics_used(dedup_partitions: int, story_index_partitions: int) -> tuple[TopicSpec, ...]:
    """The topics of a pipeline with these index partitions (see :meth:`TopicSpec.used`)."""
    return tuple(topic for topic in ALL_TOPICS
                 if topic.used(dedup_partitions, story_index_partitions))
