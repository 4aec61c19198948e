"""The one place that declares every topic: name, partitions, key and record type."""

from __future__ import annotations

from dataclasses import dataclass

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
    TaggedArticle,
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the pipeline.

    ``partitions`` is None for topics that scale with ``Settings.partitions``, or
    with ``Settings.dedup_partitions`` if ``dedup_index``; the stages that must see
    the whole stream in order (dedup routing, stories) read single-partition topics
    (see the README's scaling notes).
    """

    role: str
    suffix: str
    record: type[Record]
    key: str
    partitions: int | None
    description: str
    dedup_index: bool = False

    def name(self, prefix: str) -> str:
        """Full topic name under ``prefix``."""
        return f"{prefix}.{self.suffix}"

    def partition_count(self, partitions: int, dedup_partitions: int) -> int:
        """Partitions to create, given the configured counts."""
        if self.partitions is not None:
            return self.partitions
        return dedup_partitions if self.dedup_index else partitions


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
                         dedup_index=True)
DEDUP_REPORTS = TopicSpec("dedup.reports", "dedup.reports", DedupReport, "article id", None,
                          "Internal: an article and its shards' matches, to its decision.",
                          dedup_index=True)
ENRICHED = TopicSpec("enriched", "articles.enriched", EnrichedArticle, "article id", None,
                     "Final articles: text, entities, dedup verdict and story id.")
STORIES = TopicSpec("stories", "stories", Story, "story id", None,
                    "Latest version of a story on every change.")
DEAD_LETTERS = TopicSpec("deadletter", "deadletter", DeadLetter, "article id (if known)", None,
                         "Messages a stage could not process, with stage and reason.")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    RAW, CLEAN, TAGGED, DEDUP_PROBES, DEDUP_REPORTS, DEDUPED, ENRICHED, STORIES, DEAD_LETTERS
)
