"""What a stage agent gets from the app: its faust app, topics and settings, and the calls to
send, to dead-letter and to read in batches; not the whole pipeline object."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Protocol, TypeVar

import faust
from faust.types import EventT, StreamT

from agents.runtime.metrics import StageMetrics
from schemas.graph import TopicSpec
from schemas.records import Record
from schemas.settings import Settings
from streams.outgoing import Outgoing

ParsedT = TypeVar("ParsedT", bound=Record)


class StageContext(Protocol):
    """The narrow interface of the app that the stage agents use."""

    @property
    def settings(self) -> Settings:
        """The worker's settings."""

    @property
    def app(self) -> faust.App:
        """The faust app the stage's agents, tables and timers join."""

    @property
    def topics(self) -> Mapping[str, faust.TopicT]:
        """The topics of the active graph, by role."""

    @property
    def metrics(self) -> StageMetrics:
        """The worker's stage metrics (records in and out, processing time)."""

    async def send(
        self,
        topic: TopicSpec,
        key: str,
        value: bytes,
        partition: int | None = None,
        headers: dict[str, bytes] | None = None,
        stage: str | None = None,
    ) -> None:
        """Send one record to ``topic``, counted as ``stage``'s."""

    async def dead_letter(self, stage: str, event: EventT, exc: BaseException) -> None:
        """Send ``event`` to the dead-letter topic with the stage and the reason."""

    async def guarded(
        self, stage: str, event: EventT, handle: Callable[[EventT], Awaitable[None]]
    ) -> None:
        """Handle one event; on any error, send a dead letter and go on."""

    async def each_event(
        self, stage: str, stream: StreamT, handle: Callable[[EventT], Awaitable[None]]
    ) -> None:
        """Handle each event of ``stream`` with :meth:`guarded`."""

    def check_size(self, event: EventT) -> None:
        """Refuse a message over ``max_article_bytes`` before parsing it."""

    def batches(
        self, stage: str, stream: StreamT, record: type[ParsedT], *, last_per_key: bool = False
    ) -> AsyncIterator[list[tuple[EventT, ParsedT]]]:
        """Batches of parsed records, in arrival order; unreadable ones dead-lettered."""


async def send_all(context: StageContext, outgoing: Iterable[Outgoing]) -> None:
    """Send each record a stage's flow gives, in order."""
    for record in outgoing:
        await context.send(record.topic, record.key, record.value, partition=record.partition)
