"""The one declaration of the pipeline's graph: every topic (name, partitions, key, record
type, configuration), every table, and every stage with the topic it reads, the topics it
writes and the tables it keeps (:data:`STAGES`). The app is built from it: one agent per
stage, named as its stage, on the stage's input topic.

The default path (:func:`stages_used` with one dedup partition and no story-index
partitions)::

    articles.raw --clean--> articles.clean
                 --tag----> articles.tagged --dedup-route--> articles.deduped
    articles.deduped --story--> stories --store--> SQLite
                                articles.enriched

Every stage may also write ``deadletter``.
"""

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
        latest record of each key for ever (a tombstone for ``retention_days``), the others
        delete what is older than their retention, or over ``retention_bytes`` a partition
        (-1: no limit)."""
        config = {"max.message.bytes": str(max_message_bytes)}
        if self.retention == "compacted":
            return config | compacted_config(retention_days)
        days = dead_letter_retention_days if self.retention == "dead letters" else retention_days
        return config | {
            "cleanup.policy": "delete",
            "retention.ms": str(round(days * DAY_MS)),
            "retention.bytes": str(retention_bytes),
        }


DAY_MS = 24 * 3600 * 1000

RAW = TopicSpec(
    "raw",
    "articles.raw",
    RawArticle,
    "article id",
    None,
    "Raw articles from feeds and archive replays.",
)
CLEAN = TopicSpec(
    "clean", "articles.clean", CleanArticle, "article id", None, "Clean text and metadata."
)
TAGGED = TopicSpec(
    "tagged",
    "articles.tagged",
    TaggedArticle,
    "article id",
    1,
    "Clean articles with canonical entities; input of the dedup stage.",
)
DEDUPED = TopicSpec(
    "deduped",
    "articles.deduped",
    DedupedArticle,
    "article id",
    1,
    "Tagged articles with their dedup verdict; input of the story stage.",
)
DEDUP_PROBES = TopicSpec(
    "dedup.probes",
    "dedup.probes",
    DedupProbe,
    "candidate key",
    None,
    "Internal: one probe per candidate key of an article, to its shard.",
    index="dedup",
)
DEDUP_REPORTS = TopicSpec(
    "dedup.reports",
    "dedup.reports",
    DedupReport,
    "article id",
    None,
    "Internal: an article and its shards' matches, to its decision.",
    index="dedup",
)
ENRICHED = TopicSpec(
    "enriched",
    "articles.enriched",
    EnrichedArticle,
    "article id",
    None,
    "Final articles: text, entities, dedup verdict and story id.",
)
STORY_INDEX = TopicSpec(
    "stories.index",
    "stories.index",
    StoryIndexEntry,
    "article id",
    None,
    "Internal: an article's index keys held by one story-index partition.",
    index="story",
)
STORY_CANDIDATES = TopicSpec(
    "stories.candidates",
    "stories.candidates",
    StoryIndexReply,
    "article id",
    1,
    "Internal: a story-index partition's candidates for an article.",
    index="story",
)
STORIES = TopicSpec(
    "stories",
    "stories",
    Story,
    "story id",
    None,
    "Latest version of a story on every change; compacted by story id, "
    "so it holds every story's current version.",
    retention="compacted",
)
DEAD_LETTERS = TopicSpec(
    "deadletter",
    "deadletter",
    DeadLetter,
    "article id (if known)",
    None,
    "Messages a stage could not process, with stage and reason.",
    retention="dead letters",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    RAW,
    CLEAN,
    TAGGED,
    DEDUP_PROBES,
    DEDUP_REPORTS,
    DEDUPED,
    STORY_INDEX,
    STORY_CANDIDATES,
    ENRICHED,
    STORIES,
    DEAD_LETTERS,
)


def topics_used(dedup_partitions: int, story_index_partitions: int) -> tuple[TopicSpec, ...]:
    """The topics of a pipeline with these index partitions (see :meth:`TopicSpec.used`)."""
    return tuple(
        topic for topic in ALL_TOPICS if topic.used(dedup_partitions, story_index_partitions)
    )


def compacted_config(retention_days: float) -> dict[str, str]:
    """The configuration of a compacted topic (``stories``, a table's changelog): a
    tombstone is kept as long as the other topics keep their records."""
    return {"cleanup.policy": "compact", "delete.retention.ms": str(round(retention_days * DAY_MS))}


IndexName = Literal["dedup", "story"]


@dataclass(frozen=True)
class TableSpec:
    """A faust table of a stage; its changelog topic is named after it."""

    name: str
    description: str
    partitions: int | IndexName
    """A fixed count, or the partitions of that index."""

    def partition_count(self, dedup_partitions: int, story_index_partitions: int) -> int:
        """Partitions to create, given the configured counts."""
        if isinstance(self.partitions, int):
            return self.partitions
        return dedup_partitions if self.partitions == "dedup" else story_index_partitions


SHARD_ARTICLES = TableSpec(
    "dedup-shard-articles",
    '"partition/article id" -> arrival, keys and signature of an article in that dedup shard.',
    "dedup",
)
DECISIONS = TableSpec(
    "dedup-decisions", "article id -> pending state with the article, then its verdict.", "dedup"
)
STORY_STATE = TableSpec("story-state", "article id -> what rebuilds the story clusterer.", 1)
STORY_INDEX_ARTICLES = TableSpec(
    "story-index-articles",
    '"partition/article id" -> arrival and keys of an article in that story-index partition.',
    "story",
)


@dataclass(frozen=True)
class StageSpec:
    """A stage: the agent that reads ``reads`` and may write ``writes`` (and dead letters).

    ``index`` and ``partitioned``: the stage exists only when that index goes through
    Kafka (True) or only when it is held in-process (False); always if ``index`` is None.
    ``runs_in`` names the agent of another stage this one runs inside (it has none).
    """

    name: str
    reads: TopicSpec
    writes: tuple[TopicSpec, ...]
    description: str
    tables: tuple[TableSpec, ...] = ()
    index: IndexName | None = None
    partitioned: bool = False
    runs_in: str | None = None

    @property
    def agent(self) -> str:
        """The name of the faust agent that runs this stage."""
        return self.runs_in or self.name

    def used(self, dedup_partitions: int, story_index_partitions: int) -> bool:
        """Whether the pipeline has this stage, given the configured counts."""
        if self.index is None:
            return True
        through_kafka = (
            dedup_partitions > 1 if self.index == "dedup" else story_index_partitions > 0
        )
        return through_kafka == self.partitioned


CLEAN_STAGE = StageSpec("clean", RAW, (CLEAN,), "Text and metadata out of the raw article.")
TAG_STAGE = StageSpec(
    "tag",
    RAW,
    (TAGGED,),
    "Named entities, in the same call of the stage process as the cleaning.",
    runs_in="clean",
)
DEDUP_STAGE = StageSpec(
    "dedup-route",
    TAGGED,
    (DEDUPED,),
    "Probes the one dedup shard and decides, after the reorder buffer.",
    (SHARD_ARTICLES, DECISIONS),
    index="dedup",
)
DEDUP_ROUTE_STAGE = StageSpec(
    "dedup-route",
    TAGGED,
    (DEDUP_PROBES,),
    "One probe per shard "
    "holding keys of the article, and one to its home partition, "
    "after the reorder buffer.",
    index="dedup",
    partitioned=True,
)
DEDUP_SHARD_STAGE = StageSpec(
    "dedup-shard",
    DEDUP_PROBES,
    (DEDUP_REPORTS, DEDUPED),
    "The earlier articles a probe's article copies: a report to its home, or at home its verdict.",
    (SHARD_ARTICLES,),
    index="dedup",
    partitioned=True,
)
DEDUP_DECIDE_STAGE = StageSpec(
    "dedup-decide",
    DEDUP_REPORTS,
    (DEDUPED,),
    "The verdict once the article and all its reports are in.",
    (DECISIONS,),
    index="dedup",
    partitioned=True,
)
STORY_STAGE = StageSpec(
    "story",
    DEDUPED,
    (STORIES, ENRICHED),
    "Places each article in a story, with the story index in-process.",
    (STORY_STATE,),
    index="story",
)
STORY_PROBE_STAGE = StageSpec(
    "story",
    DEDUPED,
    (STORY_INDEX, STORIES, ENRICHED),
    "Sends each "
    "article's keys to the story-index partitions holding them, and "
    "places the waiting articles whose replies are in.",
    (STORY_STATE,),
    index="story",
    partitioned=True,
)
STORY_INDEX_STAGE = StageSpec(
    "story-index",
    STORY_INDEX,
    (STORY_CANDIDATES,),
    "The earlier articles sharing the most keys.",
    (STORY_INDEX_ARTICLES,),
    index="story",
    partitioned=True,
)
STORY_PLACE_STAGE = StageSpec(
    "story-place",
    STORY_CANDIDATES,
    (STORIES, ENRICHED),
    "Collects the index's replies and places the waiting articles, in order.",
    index="story",
    partitioned=True,
)
STORE_STAGE = StageSpec("store", STORIES, (), "The current stories in SQLite.")

STAGES: tuple[StageSpec, ...] = (
    CLEAN_STAGE,
    TAG_STAGE,
    DEDUP_STAGE,
    DEDUP_ROUTE_STAGE,
    DEDUP_SHARD_STAGE,
    DEDUP_DECIDE_STAGE,
    STORY_STAGE,
    STORY_PROBE_STAGE,
    STORY_INDEX_STAGE,
    STORY_PLACE_STAGE,
    STORE_STAGE,
)
"""Every stage, in the order of the pipeline."""


def stages_used(dedup_partitions: int, story_index_partitions: int) -> tuple[StageSpec, ...]:
    """The stages of a pipeline with these index partitions (see :meth:`StageSpec.used`)."""
    return tuple(stage for stage in STAGES if stage.used(dedup_partitions, story_index_partitions))


def writers(stages: tuple[StageSpec, ...]) -> dict[TopicSpec, str]:
    """The stage that writes each topic of ``stages`` (of several, the last in the graph)."""
    return {topic: stage.name for stage in stages for topic in stage.writes}
