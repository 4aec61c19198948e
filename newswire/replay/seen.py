"""The replay reader's table of the content seen under each article id: it tells a repeat
(a known id, a known content: skipped) from a revision (a known id, new content:
published as the next revision)."""

from __future__ import annotations

import numpy as np

from streams.text import content_hash

WAYS = 8
"""Ids per bucket of the table."""
CONTENTS_KEPT = 4
"""Content hashes kept per id: its latest ones."""
BYTES_PER_ID = 8 + 4 + 8 + 8 * CONTENTS_KEPT
"""The table's size per id it can hold: id hash, revision count, last use, contents."""


class SeenContent:
    """A fixed table of ``capacity`` article ids (whole buckets of :data:`WAYS`), with each
    id's number of distinct contents and its latest :data:`CONTENTS_KEPT` content hashes.

    It is allocated whole at the start (:data:`BYTES_PER_ID` bytes an id, zeroed pages
    the system commits as they are first used) and never grows, so the reader's memory
    is the same for any input size. An id is forgotten when :data:`WAYS` ids added to
    since take every place of its bucket. What that bound means for a replay of more
    distinct articles than ``capacity``: a repeat of a forgotten article is published
    again, and downstream skips it (same id, same content hash); new content of a
    forgotten article is published as revision 1 again, which downstream takes over a
    revision 1 it holds if fetched later (a page updated once, the common case) and
    keeps as stale behind a higher revision. Content an article had more than
    :data:`CONTENTS_KEPT` revisions ago counts as new again (a page reverted to an old
    text is published as its next revision).
    """

    def __init__(self, capacity: int) -> None:
        self._buckets = max(1, -(-capacity // WAYS))
        shape = (self._buckets, WAYS)
        self._ids = np.zeros(shape, np.uint64)
        self._revisions = np.zeros(shape, np.uint32)
        self._last_added = np.zeros(shape, np.uint64)
        self._contents = np.zeros((*shape, CONTENTS_KEPT), np.uint64)
        self._added = 0

    @property
    def capacity(self) -> int:
        """How many ids the table holds."""
        return self._buckets * WAYS

    @property
    def nbytes(self) -> int:
        """The table's size in bytes."""
        return sum(
            table.nbytes for table in (self._ids, self._revisions, self._last_added, self._contents)
        )

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

    def _find(self, key: int) -> tuple[int, int | None]:
        """The bucket of ``key``, and its place there if the table holds it."""
        bucket = key % self._buckets
        places = np.flatnonzero(self._ids[bucket] == key)
        return bucket, int(places[0]) if places.size else None


def _key(article_id: str) -> int:
    """64 bits of a hash of ``article_id``; never 0, the mark of an empty place."""
    return _digest(content_hash(article_id))


def _digest(content: str) -> int:
    """A content hash (16 hex digits) as a number; never 0, the mark of no content."""
    return int(content, 16) or 1
