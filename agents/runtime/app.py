"""The faust app: topics, the stage agents (in :mod:`agents`), sending and dead letters.

Each agent reads a topic, calls a stage, sends the result on, and dead-letters
any message it cannot process (with stage, reason and where it came from), so a
bad message never stops the pipeline. Every stage is idempotent by article id:
delivery is at-least-once and archives get replayed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import faust
import orjson
from faust.types import EventT, StreamT
from prometheus_client import CollectorRegistry

from agents.clean import CleanAgent
from agents.dedup import DedupAgents
from agents.runtime.assignor import stage_spreading_assignor
from agents.runtime.broker import bootstrap_servers
from agents.runtime.health import Health, add_web_views
from agents.runtime.logs import LOG_CONTEXT_FIELDS
from agents.runtime.metrics import ScrapedGauges, StageMetrics, worker_gauges
from agents.runtime.stage_processes import StageRunner
from agents.store import StoreAgent
from agents.stories import StoryAgents
from schemas.graph import DEAD_LETTERS, TopicSpec, stages_used, topics_used, writers
from schemas.records import DeadLetter, Record
from schemas.settings import Settings
from streams.errors import Rejected, describe_error
from streams.stories.store import SQLiteStoryStore, StoryStore
from streams.tag.entities import EntityTagger

log = logging.getLogger(__name__)

ParsedT = TypeVar("ParsedT", bound=Record)

SHORT_REASON_CHARS = 1_000
"""How much of the reason a dead letter keeps when it goes again without its payload."""

TANSU_PROFILE: dict[str, Any] = {
    # Tansu holds a consumer-group join for half the session timeout.
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 2.0,
    # Standby copies of the other workers' tables guard against losing a machine;
    # on one machine with a memory-only broker they only cost every worker CPU.
    "table_standby_replicas": 0,
}


def faust_options(settings: Settings) -> dict[str, Any]:
    """faust App options for ``settings`` (production defaults, or the Tansu broker profile)."""
    options: dict[str, Any] = {
        "broker": settings.broker_url,
        "datadir": str(settings.data_dir / "faust"),
        "store": "memory://",
        "web_enabled": settings.web_port is not None,
        "web_port": settings.web_port or 6066,
        # /assignment/ tells which worker runs which partitions (faust: debug only).
        "web_stats_enabled": True,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger_ms": settings.producer_linger_ms,
        # faust's defaults (1 MB) are below a clean article of a valid large article.
        "producer_max_request_size": settings.max_record_bytes,
        "consumer_max_fetch_size": settings.max_record_bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
        # The story stage acknowledges an article only once it is placed (see
        # streams/stories/flow.py); waiting for every message to be acknowledged before a
        # rebalance or a shutdown would wait for replies that no longer come. What is
        # unacknowledged comes again, and every stage is idempotent.
        "stream_wait_empty": False,
    }
    if settings.tansu_profile:
        options.update(TANSU_PROFILE)
    if settings.broker_url:
        # newswire's transport (agents/runtime/tansu.py) in both modes: on any broker, a partition
        # with no committed offset starts at its beginning, and on Tansu a changelog ends
        # where the broker says.
        options["broker"] = ";".join(
            "tansu://" + server for server in bootstrap_servers(settings.broker_url).split(",")
        )
    return options


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def dead_letter_for(
    stage: str, event: EventT, exc: BaseException, max_payload_bytes: int
) -> DeadLetter:
    """The dead letter describing why ``stage`` failed on ``event``, keeping at most
    ``max_payload_bytes`` of its value (with the whole value's size and SHA-256)."""
    value = event.value if isinstance(event.value, bytes) else orjson.dumps(event.value)
    key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes) else event.key
    error_type, reason = describe_error(exc)
    return DeadLetter.of(
        value,
        max_payload_bytes=max_payload_bytes,
        stage=stage,
        reason=reason,
        error_type=error_type,
        article_id=key,
        topic=event.message.topic,
        partition=event.message.partition,
        offset=event.message.offset,
        failed_at=now(),
    )


class Pipeline:
    """The newswire faust app: topics, agents and the state of the stateful stages.

    ``stages`` runs cleaning and NER if given (started early, it warms up sooner).
    ``log_dead_letters`` logs each dead letter (off where something else shows them).
    """

    def __init__(
        self,
        settings: Settings,
        tagger: EntityTagger | None = None,
        stages: StageRunner | None = None,
        log_dead_letters: bool = True,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            PartitionAssignor=stage_spreading_assignor(
                self.single_partition_stages, self.light_partitioned_stages
            ),
            **faust_options(settings),
        )
        self.topic_specs = topics_used(settings.dedup_partitions, settings.story_index_partitions)
        self.stage_specs = stages_used(settings.dedup_partitions, settings.story_index_partitions)
        self.topics = {spec.role: self._topic(spec) for spec in self.topic_specs}
        self.stages = stages or StageRunner(
            settings.spacy_model, settings.max_article_bytes, settings.stage_processes, tagger
        )
        self.story_store: StoryStore = SQLiteStoryStore(settings.story_db_path)
        self.clean = CleanAgent(self, self.stages)
        self.dedup = DedupAgents(self)
        self.stories = StoryAgents(self)
        self.store = StoreAgent(self, self.story_store)
        self._add_agents(
            {**self.clean.agents, **self.dedup.agents, **self.stories.agents, **self.store.agents}
        )
        self.log_dead_letters = log_dead_letters
        self._monitor()

    def _add_agents(self, agents: Mapping[str, Callable[[StreamT], Awaitable[None]]]) -> None:
        """One agent per stage of the graph (:data:`schemas.graph.STAGES`), named as the
        stage, on its input topic; ``agents`` gives each stage's agent function."""
        for stage in self.stage_specs:
            if stage.runs_in is None:
                self.app.agent(self.topics[stage.reads.role], name=stage.name)(agents[stage.name])

    def _monitor(self) -> None:
        """Count each stage's records (a faust sensor), probe the worker's health, and
        serve both on the web port."""
        self.registry = registry = CollectorRegistry()
        readers = {agent.channel.get_topic_name(): name for name, agent in self.app.agents.items()}
        written_by = {
            spec.name(self.settings.topic_prefix): stage
            for spec, stage in writers(self.stage_specs).items()
        }
        self.metrics = StageMetrics(registry, readers, written_by)
        self.app.sensors.add(self.metrics)
        self.health = Health(self.app, self.stages)
        held = {
            "dedup": lambda: len(self.dedup.decisions),
            "story": lambda: len(self.stories.story_log.table),
        }
        registry.register(
            ScrapedGauges(
                worker_gauges(
                    self.app, lambda: self.stories.clusterer.live_stories, held, self.health
                )
            )
        )
        add_web_views(self.app, self.health, registry)

    def single_partition_stages(self) -> list[set[str]]:
        """The stages that read one partition, each as the topics that stay on one
        worker (its input and its tables' changelogs), heaviest first."""
        return [
            {self.topics["deduped"].get_topic_name(), *self.stories.single_partition_topics()},
            {self.topics["tagged"].get_topic_name(), *self.dedup.single_partition_topics()},
        ]

    def light_partitioned_stages(self) -> list[set[str]]:
        """The partitioned stages that the story stage's worker leaves to the others
        (dedup shards, dedup decisions, the story index, the story store), each as its
        input topic and its tables' changelogs: that worker's core is the first to
        fill up."""
        return [
            *self.dedup.partitioned_stages(),
            *self.stories.partitioned_stages(),
            {self.topics["stories"].get_topic_name()},
        ]

    def _topic(self, spec: TopicSpec) -> faust.TopicT:
        return self.app.topic(
            spec.name(self.settings.topic_prefix),
            partitions=spec.partition_count(
                self.settings.partitions,
                self.settings.dedup_partitions,
                self.settings.story_index_partitions,
            ),
            key_serializer="raw",
            value_serializer="raw",
        )

    async def send(
        self,
        topic: TopicSpec,
        key: str,
        value: bytes,
        partition: int | None = None,
        headers: dict[str, bytes] | None = None,
        stage: str | None = None,
    ) -> None:
        """Send one record (JSON bytes) to ``topic``, keyed by ``key``, and
        count it as ``stage``'s (by default, the stage whose record is being handled).

        ``partition`` places it explicitly; by default the key's hash does.
        """
        channel = self.topics[topic.role]
        await channel.send(key=key.encode(), value=value, partition=partition, headers=headers)
        self.metrics.sent(channel.get_topic_name(), stage)

    async def guarded(
        self, stage: str, event: EventT, handle: Callable[[EventT], Awaitable[None]]
    ) -> None:
        """Handle one event; on any error, send a dead letter and go on."""
        try:
            with self.metrics.timed(stage):
                await handle(event)
        except Exception as exc:
            await self.dead_letter(stage, event, exc)

    async def each_event(
        self, stage: str, stream: StreamT, handle: Callable[[EventT], Awaitable[None]]
    ) -> None:
        """Handle each event of ``stream`` with :meth:`guarded`."""
        # stream.events() sets the current event, which table writes need.
        async for event in stream.events():
            await self.guarded(stage, event, handle)

    async def dead_letter(self, stage: str, event: EventT, exc: BaseException) -> None:
        """Send ``event`` to the dead-letter topic with the stage and the reason.

        Never raises: a letter that cannot be sent goes again without its payload
        (its size and SHA-256 stay), and if that fails too the loss is logged.
        """
        letter = dead_letter_for(stage, event, exc, self.settings.dead_letter_payload_bytes)
        self.metrics.dead_lettered(stage, letter.error_type)
        if self.log_dead_letters:
            log.warning(
                "dead letter from %s: %s (%s)",
                stage,
                letter.reason,
                letter.article_id,
                extra=letter.model_dump(include=set(LOG_CONTEXT_FIELDS)),
            )
        key = letter.article_id or ""
        try:
            await self.send(DEAD_LETTERS, key, letter.to_json())
            return
        except Exception as error:
            log.warning(
                "dead letter from %s for %s not sent (%s): sending it without its payload",
                stage,
                letter.article_id,
                describe_error(error)[1],
            )
        short_reason = letter.reason[:SHORT_REASON_CHARS]
        without_payload = letter.model_copy(
            update={"payload": "", "payload_truncated": True, "reason": short_reason}
        )
        try:
            await self.send(DEAD_LETTERS, key, without_payload.to_json())
        except Exception as error:
            log.error(
                "dead letter from %s for %s lost (%s: %s): %s",
                stage,
                letter.article_id,
                letter.error_type,
                short_reason,
                describe_error(error)[1],
            )

    async def batches(
        self, stage: str, stream: StreamT, record: type[ParsedT], *, last_per_key: bool = False
    ) -> AsyncIterator[list[tuple[EventT, ParsedT]]]:
        """Batches (``batch_size``, ``batch_seconds``) of parsed records, in arrival
        order; unreadable messages are dead-lettered. With ``last_per_key``, only the
        last message of each key in a batch is read (messages without a key all are)."""
        batches = cast(faust.Stream[bytes], stream).take_events(
            self.settings.batch_size, within=self.settings.batch_seconds
        )
        async for events in batches:
            if last_per_key:
                events = list({event.key or id(event): event for event in events}.values())
            parsed: list[tuple[EventT, ParsedT]] = []
            for event in events:
                try:
                    self.check_size(event)
                    parsed.append((event, record.from_json(event.value)))
                except Exception as exc:
                    await self.dead_letter(stage, event, exc)
            if parsed:
                yield parsed

    def check_size(self, event: EventT) -> None:
        """Refuse a message over ``max_article_bytes`` before parsing it."""
        if len(event.value) > self.settings.max_article_bytes:
            raise Rejected(
                "too_large",
                f"message of {len(event.value)} bytes is over the limit of "
                f"{self.settings.max_article_bytes} bytes",
            )
