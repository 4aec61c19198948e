"""The worker's Prometheus metrics: a faust sensor counts what each stage reads and sends,
and a collector reads the lag, the state held and the health when ``/metrics`` is scraped.

Names follow Prometheus conventions (``newswire_..._total`` for counters, seconds for
time). Consumer lag is the partition's end offset minus the group's committed offset,
clamped at 0: the embedded Tansu broker reports a partition's end as the first offset of
its last batch + 1, which can be below the committed offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faust import Sensor, current_event
from faust.types import TP, AppT, EventT, StreamT
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.context_managers import Timer
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from agents.runtime.health import Health

PROCESSING_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Buckets of ``newswire_processing_seconds`` (a record's time in its stage)."""


class StageMetrics(Sensor):
    """A faust sensor counting each stage's records in; and, told by the stages, their
    records out (:meth:`sent`), dead letters and processing time (:meth:`timed`).

    ``readers`` maps a topic name to the stage that reads it, ``writers`` an output
    topic's name to the stage that writes it; other topics (table changelogs, dead
    letters) are not counted.
    """

    def __init__(
        self, registry: CollectorRegistry, readers: Mapping[str, str], writers: Mapping[str, str]
    ) -> None:
        super().__init__()
        self.readers = dict(readers)
        self.writers = dict(writers)
        self.records_in = Counter(
            "newswire_records_in", "Records a stage has read.", ["stage"], registry=registry
        )
        self.records_out = Counter(
            "newswire_records_out", "Records a stage has sent on.", ["stage"], registry=registry
        )
        self.dead_letters = Counter(
            "newswire_dead_letters",
            "Records a stage dead-lettered, by reason (the dead letter's error_type).",
            ["stage", "reason"],
            registry=registry,
        )
        self.processing = Histogram(
            "newswire_processing_seconds",
            "Time a stage takes on a record (on a batch of "
            "records in the batch stages: clean, tag, store).",
            ["stage"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        # Every stage's series from the start, at 0: a rate needs the first value.
        for stage in set(self.readers.values()) | set(self.writers.values()):
            self.records_in.labels(stage=stage)
            self.records_out.labels(stage=stage)

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT, event: EventT
    ) -> dict[str, Any] | None:
        """A record reaches its stage."""
        stage = self.readers.get(tp.topic)
        if stage is not None:
            self.records_in.labels(stage=stage).inc()
        return None

    def received(self, stage: str) -> None:
        """Count a record handed to ``stage`` in the process (not read from a topic)."""
        self.records_in.labels(stage=stage).inc()

    def timed(self, stage: str) -> Timer:
        """A context manager observing how long its block takes as ``stage``'s."""
        return self.processing.labels(stage=stage).time()

    def observe(self, stage: str, seconds: float) -> None:
        """Record that ``stage`` took ``seconds`` (measured elsewhere, e.g. in the stage
        process)."""
        self.processing.labels(stage=stage).observe(seconds)

    def sent(self, topic: str, stage: str | None = None) -> None:
        """Count a record sent to ``topic`` (if a stage's output) for ``stage``, by
        default the stage whose record is being handled, else the one that writes
        ``topic``."""
        if topic not in self.writers:
            return
        if stage is None:
            event = current_event()
            stage = self.readers.get(event.message.topic) if event is not None else None
        self.records_out.labels(stage=stage or self.writers[topic]).inc()

    def dead_lettered(self, stage: str, reason: str) -> None:
        """Count a dead letter of ``stage``."""
        self.dead_letters.labels(stage=stage, reason=reason).inc()


@dataclass(frozen=True)
class ScrapedGauge:
    """A gauge whose values ``read`` gives when scraped, by label values."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Mapping[tuple[str, ...], float]]


class ScrapedGauges(Collector):
    """A collector of :class:`ScrapedGauge`: the worker's state, read when scraped."""

    def __init__(self, gauges: Sequence[ScrapedGauge]) -> None:
        self.gauges = list(gauges)

    def collect(self) -> Iterator[Metric]:
        """The current values."""
        for gauge in self.gauges:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for labels, value in gauge.read().items():
                family.add_metric(labels, value)
            yield family


def consumer_lag(app: AppT, topics: set[str]) -> dict[tuple[str, ...], float]:
    """Lag of each assigned partition of ``topics`` whose end offset is known, by topic
    and partition: the end offset faust last saw minus the committed offset (the
    start if none), at least 0."""
    monitor = app.monitor
    committed = monitor.tp_committed_offsets
    return {
        (tp.topic, str(tp.partition)): max(0, monitor.tp_end_offsets[tp] - committed.get(tp, 0))
        for tp in app.consumer.assignment()
        if tp.topic in topics and tp in monitor.tp_end_offsets
    }


def worker_gauges(
    app: AppT,
    live_stories: Callable[[], int],
    held: Mapping[str, Callable[[], int]],
    health: Health,
) -> list[ScrapedGauge]:
    """The gauges of ``app``'s worker: lag of the topics its agents read, the live stories,
    the articles each stateful stage holds (``held``, by stage), and its health."""
    read = {agent.channel.get_topic_name() for agent in app.agents.values()}
    return [
        ScrapedGauge(
            "newswire_consumer_lag_records",
            "Records of a partition this worker reads not yet committed (end offset "
            "minus committed offset, at least 0).",
            ("topic", "partition"),
            lambda: consumer_lag(app, read),
        ),
        ScrapedGauge(
            "newswire_live_stories",
            "Stories open to new articles (not yet cold).",
            (),
            lambda: {(): live_stories()},
        ),
        ScrapedGauge(
            "newswire_articles_held",
            "Articles a stateful stage holds on this worker (its table entries).",
            ("stage",),
            lambda: {(stage,): count() for stage, count in held.items()},
        ),
        ScrapedGauge(
            "newswire_stage_processes_up",
            "1 if the cleaning and NER processes answer with the model loaded, else 0.",
            (),
            lambda: {(): float(health.stages_up)},
        ),
        ScrapedGauge(
            "newswire_ready",
            "1 if the worker is ready (see /health/ready), else 0.",
            (),
            lambda: {(): float(health.ready)},
        ),
    ]
