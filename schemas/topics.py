"""The one place that declares every topic: name, partitions, key and record type."""

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
        return max(story_index_partitions, 1)  # 0: an in-process index, the topic unused


RAW = TopicSpec("raw", "articles.raw", RawArticle, "article id", None,
                "Raw articles from feeds and archive replays.")
CLEAN = TopicSpec("clean", "articles.clean", CleanArticle, "article id", None,
                  "Clean text and metadata.")
TAGGED = TopicSpec("tagged", "articles.tagged", TaggedArticle, "article id", 1,
                   "Clean articles with canonical entities; input of the dedup stage.")
DEDUPED = TopicSpec("deduped", "articles.deduped", DedupedArticle, "article id", 1,
                    "Tagged articles with their dedup verdict; input of the story stage.")
DEDUP_PROBES = TopicSpec("dedup.probes", "dedup.probes", DedupProbe, "candidate key", None,
                         "Internal: one probe per candidate key of an article, to its shard.",
                         index="dedup")
DEDUP_REPORTS = TopicSpec("dedup.reports", "dedup.reports", DedupReport, "article id", None,
                          "Internal: an article and its shards' matches, to its decision.",
                          index="dedup")
ENRICHED = TopicSpec("enriched", "articles.enriched", EnrichedArticle, "article id", None,
                     "Final articles: text, entities, dedup verdict and story id.")
STORY_INDEX = TopicSpec("stories.index", "stories.index", StoryIndexEntry, "article id", None,
                        "Internal: an article's index keys held by one story-index partition.",
                        index="story")
STORY_CANDIDATES = TopicSpec("stories.candidates", "stories.candidates", StoryIndexReply,
                             "article id", 1,
                             "Internal: a story-index partition's candidates for an article.")
STORIES = TopicSpec("stories", "stories", Story, "story id", None,
                    "Latest version of a story on every change.")
DEAD_LETTERS = TopicSpec("deadletter", "deadletter", DeadLetter, "article id (if known)", None,
                         "Messages a stage could not process, with stage and reason.")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    RAW, CLEAN, TAGGED, DEDUP_PROBES, DEDUP_REPORTS, DEDUPED, STORY_INDEX, STORY_CANDIDATES,
    ENRICHED, STORIES, DEAD_LETTERS,
)
