"""The replay reader's table of the content seen under each article id: it tells a repeat
(a known id, a known content: skipped) from a revision (a known id, new content:
published as the next revision)."""

from __future__ import annotations

import numpy as np

from streams.text import content_hash

WAYS = 16
"""Ids per bucket of the table."""
CONTENTS_KEPT = 4
"""Content hashes kept per id: its latest ones."""
BYTES_PER_ID = 8 + 4 + 8 + 8 * CONTENTS_KEPT
"""The table's size per id it can hold: id hash, revision count, last use, contents."""
FIRST_BUCKETS = 512
"""Buckets of a new table (fewer if its capacity is smaller): about 400 KB."""


class SeenContent:
    """A table of at most ``capacity`` article ids (a power of two of buckets of
    :data:`WAYS`), with each id's number of distinct contents and its latest
    :data:`CONTENTS_KEPT` content hashes.

    It starts small and doubles its buckets whenever an id finds its bucket full, up to
    ``capacity`` (:data:`BYTES_PER_ID` bytes an id), so its memory follows the ids it
    holds and never passes that bound. At full size, an id is forgotten when
    :data:`WAYS` ids added to since take every place of its bucket. What that bound
    means for a replay of more distinct articles than ``capacity``: a repeat of a
    forgotten article is published again, and downstream skips it (same id, same
    content hash); new content of a forgotten article is published as revision 1
    again, which downstream takes over a revision 1 it holds if fetched later (a page
    updated once, the common case) and keeps as stale behind a higher revision.
    Content an article had more than :data:`CONTENTS_KEPT` revisions ago counts as new
    again (a page reverted to an old text is published as its next revision).
    """

    def __init__(self, capacity: int) -> None:
        self._max_buckets = 1 << max(0, -(-capacity // WAYS) - 1).bit_length()
        self._allocate(min(FIRST_BUCKETS, self._max_buckets))
        self._added = 0

    def _allocate(self, buckets: int) -> None:
        shape = (buckets, WAYS)
        self._ids = np.zeros(shape, np.uint64)
        self._revisions = np.zeros(shape, np.uint32)
        self._last_added = np.zeros(shape, np.uint64)
        self._contents = np.zeros((*shape, CONTENTS_KEPT), np.uint64)

    @property
    def capacity(self) -> int:
        """How many ids the table holds at its full size."""
        return self._max_buckets * WAYS

    @property
    def nbytes(self) -> int:
        """The table's size in bytes now."""
        return sum(table.nbytes for table in self._tables())

    def _tables(self) -> tuple[np.ndarray, ...]:
        return self._ids, self._revisions, self._last_added, self._contents

    def revision(self, article_id: str, content: str) -> int | None:
        """The revision ``content`` (a content hash) would be under ``article_id``; None
        for a repeat."""
        bucket, way = self._find(_key(article_id))
        if way is None:
            return 1
        if _digest(content) in self._contents[bucket, way]:
            return None
        return int(self._revisions[bucket, way]) + 1

    def add(self, article_id: str, content: str) -> None:
        """Remember ``content`` (a content hash) under ``article_id``."""
        key = _key(article_id)
        bucket, way = self._find(key)
        if way is None:
            while self._ids[bucket].all() and len(self._ids) < self._max_buckets:
                self._double()
                bucket = key % len(self._ids)
            # An empty place has never been added to: the least recent of all.
            way = int(np.argmin(self._last_added[bucket]))
            self._ids[bucket, way] = key
            self._revisions[bucket, way] = 0
            self._contents[bucket, way] = 0
        self._added += 1
        self._last_added[bucket, way] = self._added
        digest = _digest(content)
        if digest not in self._contents[bucket, way]:
            revisions = int(self._revisions[bucket, way])
            self._contents[bucket, way, revisions % CONTENTS_KEPT] = digest
            self._revisions[bucket, way] = revisions + 1

    def _double(self) -> None:
        """Twice the buckets: each id of bucket ``b`` stays in its place there or moves
        to the same place of bucket ``b + buckets`` (its key modulo the new count)."""
        buckets = len(self._ids)
        moves = self._ids % np.uint64(2 * buckets) >= buckets
        old = self._tables()
        self._allocate(2 * buckets)
        for table, before in zip(self._tables(), old, strict=True):
            moving = moves if before.ndim == 2 else moves[..., np.newaxis]
            table[:buckets] = np.where(moving, 0, before)
            table[buckets:] = np.where(moving, before, 0)

    def _find(self, key: int) -> tuple[int, int | None]:
        """The bucket of ``key``, and its place there if the table holds it."""
        bucket = key % len(self._ids)
        places = np.flatnonzero(self._ids[bucket] == key)
        return bucket, int(places[0]) if places.size else None


def _key(article_id: str) -> int:
    """64 bits of a hash of ``article_id``; never 0, the mark of an empty place."""
    return _digest(content_hash(article_id))


def _digest(content: str) -> int:
    """A content hash (16 hex digits) as a number; never 0, the mark of no content."""
    return int(content, 16) or 1
