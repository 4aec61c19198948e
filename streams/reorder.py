"""Ingest order restored across partitions that interleave: an event-time reorder buffer.

Raw articles are dealt to the partitions of the raw topic in turn, and each partition
keeps its order through cleaning and tagging; but the partitions are processed in
parallel (in batches, by one or several workers), so a stage reading their merged
output sees them interleaved. Before a decision that depends on ingest order (which
of two copies is the original), :class:`ReorderBuffer` holds each item until every
source partition has shown an item at or after it (the *watermark*), or until it has
waited ``max_wait`` seconds (a source may be idle), and releases items in ingest order
(time, then tie-break). A source is only idle if nothing is on its way: while a source
the item waits for is *behind* (its records are upstream, not yet processed, as after a
worker crash until another worker takes its partitions over), the item is held up to
``stalled_wait`` seconds instead. An item that comes after a later one was released is
released at once, in arrival order: it is *late*, and counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")


@dataclass(order=True)
class _Held(Generic[ItemT]):
    order: tuple[datetime, Hashable]
    since: float = field(compare=False)
    item: ItemT = field(compare=False)


class ReorderBuffer(Generic[ItemT]):
    """Items from ``sources`` source partitions, released in ingest order.

    ``add`` takes an item with its source, its ingest time and a tie-break, and the
    current (monotonic) time; it and ``due`` return the items now released, in order.
    """

    def __init__(self, sources: int, max_wait: float, stalled_wait: float | None = None) -> None:
        if sources < 1:
            raise ValueError("a reorder buffer needs at least one source")
        self.sources = sources
        self.max_wait = max_wait
        self.stalled_wait = max(max_wait, stalled_wait if stalled_wait is not None else max_wait)
        self.behind: frozenset[int] = frozenset()
        """The sources with records upstream not yet processed (set by the owner)."""
        self.late = 0
        self._latest: dict[int, datetime] = {}
        self._held: list[_Held[ItemT]] = []
        self._released: tuple[datetime, Hashable] | None = None

    def __len__(self) -> int:
        return len(self._held)

    def add(
        self, source: int, time: datetime, tie_break: Hashable, item: ItemT, now: float
    ) -> list[ItemT]:
        """Hold ``item`` (ingested at ``time`` through ``source``); the items released."""
        order = (time, tie_break)
        if self._released is not None and order < self._released:
            self.late += 1
            return [*self.due(now), item]
        latest = self._latest.get(source)
        if latest is None or time > latest:
            self._latest[source] = time
        heapq.heappush(self._held, _Held(order, now, item))
        return self.due(now)

    def due(self, now: float) -> list[ItemT]:
        """The items released by the watermark, or by waiting ``max_wait`` until ``now``
        (with every item before them)."""
        watermark = self.watermark()
        overdue = [held.order for held in self._held if self._waited_enough(held, now)]
        limit = max(overdue) if overdue else None
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

    def _waited_enough(self, held: _Held[ItemT], now: float) -> bool:
        """Whether ``held`` has waited ``max_wait``, or ``stalled_wait`` if a source it
        still waits for is behind."""
        waited = now - held.since
        if waited < self.max_wait:
            return False
        if waited >= self.stalled_wait:
            return True
        time = held.order[0]
        return not any(
            source not in self._latest or self._latest[source] < time for source in self.behind
        )

    def watermark(self) -> datetime | None:
        """The latest time every source has shown an item at or after (None until each has)."""
        if len(self._latest) < self.sources:
            return None
        return min(self._latest.values())

    def waited_past_max(self, now: float) -> bool:
        """Whether an item held has waited ``max_wait`` by ``now``."""
        return any(now - held.since >= self.max_wait for held in self._held)

    def clear(self) -> list[ItemT]:
        """Forget every held item (they come again after a rebalance); return them."""
        held = [entry.item for entry in sorted(self._held)]
        self._held.clear()
        return held
