"""The event-time reorder buffer before the decisions that depend on ingest order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.reorder import ReorderBuffer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_items_of_interleaved_sources_come_out_in_ingest_order() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=2, max_wait=10)
    # Source 1 runs ahead of source 0: its items wait for source 0 to catch up.
    assert buffer.add(1, at(2), "b", "b", now=0) == []
    assert buffer.add(1, at(4), "d", "d", now=0) == []
    assert buffer.add(0, at(1), "a", "a", now=0) == ["a"]
    assert buffer.add(0, at(3), "c", "c", now=0) == ["b", "c"]
    assert buffer.add(0, at(5), "e", "e", now=0) == ["d"]
    assert len(buffer) == 1


def test_an_idle_source_holds_nothing_longer_than_the_wait() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=3, max_wait=1.0)
    assert buffer.add(0, at(2), "b", "b", now=0.0) == []
    assert buffer.add(1, at(1), "a", "a", now=0.5) == []
    assert not buffer.waited_past_max(now=0.9)
    assert buffer.due(now=0.9) == []
    # The first item's wait has run out: it goes, and so does every item before it.
    assert buffer.due(now=1.0) == ["a", "b"]
    assert not buffer.waited_past_max(now=5.0)


def test_a_late_item_is_released_at_once_and_counted() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=2, max_wait=1.0)
    buffer.add(0, at(5), "e", "e", now=0)
    assert buffer.due(now=2) == ["e"]
    assert buffer.add(1, at(1), "a", "a", now=3) == ["a"]
    assert buffer.late == 1


def test_ties_in_time_are_broken_by_the_tie_break() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=1, max_wait=1.0)
    assert buffer.add(0, at(1), 7, "seven", now=0) == ["seven"]
    buffer2: ReorderBuffer[str] = ReorderBuffer(sources=2, max_wait=1.0)
    buffer2.add(0, at(1), 7, "seven", now=0)
    buffer2.add(0, at(1), 3, "three", now=0)
    assert buffer2.due(now=5) == ["three", "seven"]


def test_clear_gives_back_what_was_held() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=2, max_wait=1.0)
    buffer.add(0, at(2), "b", "b", now=0)
    buffer.add(0, at(1), "a", "a", now=0)
    assert buffer.clear() == ["a", "b"]
    assert len(buffer) == 0


def test_a_source_that_is_behind_is_waited_for_up_to_the_stalled_wait() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=2, max_wait=1.0, stalled_wait=10.0)
    assert buffer.add(1, at(2), "copy", "copy", now=0.0) == []
    buffer.behind = frozenset({0})  # source 0 has records on their way
    assert buffer.waited_past_max(now=1.0)
    assert buffer.due(now=1.0) == []
    assert buffer.due(now=9.9) == []
    assert buffer.add(0, at(1), "original", "original", now=5.0) == ["original"]
    buffer.behind = frozenset()  # source 0 has caught up
    assert buffer.due(now=5.0) == ["copy"]
    buffer.behind = frozenset({0})
    # Past the stalled wait an item goes even if its source is still behind.
    assert buffer.add(1, at(4), "later", "later", now=6.0) == []
    assert buffer.due(now=15.9) == []
    assert buffer.due(now=16.0) == ["later"]


def test_a_source_that_is_behind_but_has_caught_up_with_an_item_does_not_hold_it() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(sources=3, max_wait=1.0, stalled_wait=10.0)
    buffer.add(0, at(3), "c", "c", now=0.0)
    buffer.add(1, at(5), "e", "e", now=0.0)
    # Source 0 is behind, but has shown c itself: only source 2 (idle) holds c back.
    buffer.behind = frozenset({0})
    assert buffer.due(now=1.0) == ["c"]
    assert buffer.due(now=2.0) == []  # e waits for source 0's records before it
