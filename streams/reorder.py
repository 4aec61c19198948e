"""Ingest order restored across partitions that interleave: an event-time reorder buffer.

Raw articles are dealt to the partitions of the raw topic in turn, and each partition
keeps its order through cleaning and tagging; but the partitions are processed in
parallel (in batches, by one or several workers), so a stage reading their merged
output sees them interleaved. Before a decision that depends on ingest order (which
of two copies is the original), :class:`ReorderBuffer` holds each item until every
source partition has shown an item at or after it (the *watermark*), and releases
items in ingest order (time, then tie-break).

A source may be idle, or behind: its worker slow, killed, or being replaced. An item
no source has caught up with is released after ``max_wait`` seconds if the sources
behind it are idle, and after ``max_backlog_wait`` if one of them is known to still
hold records (its *backlog*, which the caller finds out and passes to :meth:`due`).
An item that comes after a later one was released is released at once, in arrival
order: it is *late*, and counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

ItemT = TypeVar("ItemT")


class IngestPosition(NamedTuple):
    """Where an item was ingested: its source partition and, if known, its offset there."""

    source: int
    offset: int | None = None


@dataclass(order=True)
class _Held(Generic[ItemT]):
    order: tuple[datetime, Hashable]
    since: float = field(compare=False)
    item: ItemT = field(compare=False)


class ReorderBuffer(Generic[ItemT]):
    """Items from ``sources`` source partitions, released in ingest order.

    ``add`` takes an item with where it was ingested, its ingest time, a tie-break and
    the current (monotonic) time, and returns the items the watermark releases; ``due``
    also releases the items whose wait has run out. ``next_offsets`` holds, per source,
    the offset after the latest item seen from it (where its backlog would start).
    """

    def __init__(self, sources: int, max_wait: float, max_backlog_wait: float) -> None:
        if sources < 1:
            raise ValueError("a reorder buffer needs at least one source")
        self.sources = sources
        self.max_wait = max_wait
        self.max_backlog_wait = max(max_wait, max_backlog_wait)
        self.late = 0
        self.next_offsets: dict[int, int] = {}
        self._latest: dict[int, datetime] = {}
        self._held: list[_Held[ItemT]] = []
        self._released: tuple[datetime, Hashable] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def add(
        self,
        ingested: IngestPosition,
        time: datetime,
        tie_break: Hashable,
        item: ItemT,
        now: float,
    ) -> list[ItemT]:
        """Hold ``item`` (ingested at ``time`` where ``ingested`` says); the items the
        watermark releases."""
        source, offset = ingested
        if offset is not None and offset >= self.next_offsets.get(source, 0):
            self.next_offsets[source] = offset + 1
        order = (time, tie_break)
        if self._released is not None and order < self._released:
            self.late += 1
            return [*self._release(None), item]
        latest = self._latest.get(source)
        if latest is None or time > latest:
            self._latest[source] = time
        heapq.heappush(self._held, _Held(order, now, item))
        return self._release(None)

    def behind(self, now: float) -> set[int]:
        """The sources that hold back an item whose ``max_wait`` has run out: those with
        no item at or after it. Those of them with a backlog keep it waiting longer."""
        overdue = [held.order for held in self._held if now - held.since >= self.max_wait]
        if not overdue:
            return set()
        time = max(overdue)[0]
        return {source for source in range(self.sources) if not self._reached(source, time)}

    def due(self, now: float, backlogged: Collection[int] = ()) -> list[ItemT]:
        """The items released by the watermark, or by waiting until ``now`` (with every
        item before them): ``max_wait``, or ``max_backlog_wait`` while a source behind
        the item is in ``backlogged``."""
        overdue = [
            held.order
            for held in self._held
            if now - held.since >= self._wait(held.order[0], backlogged)
        ]
        return self._release(max(overdue) if overdue else None)

    def watermark(self) -> datetime | None:
        """The latest time every source has shown an item at or after (None until each has)."""
        if len(self._latest) < self.sources:
            return None
        return min(self._latest.values())

    def clear(self) -> list[ItemT]:
        """Forget every held item (they come again after a rebalance); return them."""
        held = [entry.item for entry in sorted(self._held)]
        self._held.clear()
        return held

    def _reached(self, source: int, time: datetime) -> bool:
        latest = self._latest.get(source)
        return latest is not None and latest >= time

    def _wait(self, time: datetime, backlogged: Collection[int]) -> float:
        if any(not self._reached(source, time) for source in backlogged):
            return self.max_backlog_wait
        return self.max_wait

    def _release(self, limit: tuple[datetime, Hashable] | None) -> list[ItemT]:
        """Release, in order, the items up to the watermark or up to ``limit``."""
        watermark = self.watermark()
        released: list[ItemT] = []
        while self._held:
            first = self._held[0]
            by_watermark = watermark is not None and first.order[0] <= watermark
            if not (by_watermark or (limit is not None and first.order <= limit)):
                break
            heapq.heappop(self._held)
            self._released = first.order
            released.append(first.item)
        return released
