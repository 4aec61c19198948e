"""Story sink: the latest version of each story, searchable by entity, text and news time."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from schemas.records import Story

LOCK_TIMEOUT_SECONDS = 30.0


class StoryStore(Protocol):
    """Where stories land: keeps the highest version of each story."""

    def upsert(self, story: Story) -> bool:
        """Store ``story`` unless a version at least as high is stored; True if stored."""
        ...

    def upsert_many(self, stories: Iterable[Story]) -> int:
        """:meth:`upsert` each story, all at once; how many were stored."""
        ...

    def get(self, story_id: str) -> Story | None:
        """The stored version of a story, if any."""
        ...

    def search(
        self,
        *,
        entity: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Story]:
        """Stories matching every given criterion, latest news first.

        ``entity`` is an entity id or a name or surface form (case-insensitive);
        ``text`` is words all found in the headline, summary, member titles or
        entity names; ``since``/``until`` keep stories whose news time (see
        :func:`news_span`) overlaps that range.
        """
        ...


def _utc_text(moment: datetime) -> str:
    """Sortable UTC text of a datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def news_span(story: Story) -> tuple[datetime, datetime]:
    """When the story's news happened: its first and last publication time, or, for a
    story none of whose members has one, its first and last seen time."""
    if story.first_published is None or story.last_published is None:
        return story.first_seen, story.last_seen
    return story.first_published, story.last_published


def _searchable_text(story: Story) -> str:
    titles = [m.title for m in story.members if m.title]
    names = [form for e in story.entities for form in (e.name, *e.surface_forms)]
    return "\n".join([story.headline, story.summary, *titles, *names])


_WORD = re.compile(r"\w+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    story_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    content TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_last_seen ON stories (last_seen);
CREATE TABLE IF NOT EXISTS story_entities (
    story_id TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    PRIMARY KEY (story_id, entity_key)
);
CREATE INDEX IF NOT EXISTS story_entities_key ON story_entities (entity_key);
"""
_NEWS_COLUMNS = ("news_first", "news_last")
"""Columns of ``stories`` added after its first version (:func:`news_span`, UTC text):
added, and filled from the stored records, when a file lacks them."""


class SQLiteStoryStore:
    """:class:`StoryStore` in one SQLite file (full-text search with FTS5 when available)."""

    def __init__(self, path: str | Path) -> None:
        # Workers sharing a data directory share the file: wait for each other's locks.
        self._db = sqlite3.connect(str(path), timeout=LOCK_TIMEOUT_SECONDS)
        # One write per story change: a write-ahead log without an fsync per commit
        # (a crash can lose the last changes, which the stories topic still has).
        # The log mode is kept in the file, so a worker that opens it while another
        # is switching it can leave the switch to that one.
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._add_news_columns()
        self.full_text = self._enable_fts()

    def _add_news_columns(self) -> None:
        """Add the news time columns to a file that lacks them (a new one, or one written
        before they existed), filled from the stored records."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # workers sharing the file: one adds them
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(stories)")}
            missing = [name for name in _NEWS_COLUMNS if name not in columns]
            for name in missing:
                self._db.execute(f"ALTER TABLE stories ADD COLUMN {name} TEXT")
            if missing:
                self._db.executemany(
                    "UPDATE stories SET news_first = ?, news_last = ? WHERE story_id = ?",
                    [
                        (*map(_utc_text, news_span(Story.from_json(record))), story_id)
                        for story_id, record in self._db.execute(
                            "SELECT story_id, record FROM stories"
                        ).fetchall()
                    ],
                )
            self._db.execute("CREATE INDEX IF NOT EXISTS stories_news_last ON stories (news_last)")

    def _enable_fts(self) -> bool:
        try:
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(story_id UNINDEXED,"
                " content)"
            )
        except sqlite3.OperationalError:
            return False
        return True

    def upsert(self, story: Story) -> bool:
        """Store ``story`` unless a version at least as high is stored; True if stored."""
        return self.upsert_many([story]) == 1

    def upsert_many(self, stories: Iterable[Story]) -> int:
        """:meth:`upsert` each story in one transaction; how many were stored."""
        latest: dict[str, Story] = {}
        for story in stories:
            known = latest.get(story.story_id)
            if known is None or story.version > known.version:
                latest[story.story_id] = story
        stored = 0
        with self._db:
            # Take the write lock before reading the stored versions: a worker sharing
            # the file cannot store a newer version in between.
            self._db.execute("BEGIN IMMEDIATE")
            for story in latest.values():
                row = self._db.execute(
                    "SELECT version FROM stories WHERE story_id = ?", (story.story_id,)
                ).fetchone()
                if row is None or row[0] < story.version:
                    self._write(story)
                    stored += 1
        return stored

    def _write(self, story: Story) -> None:
        content = _searchable_text(story)
        entity_keys = {
            key.casefold() for e in story.entities for key in (e.id, e.name, *e.surface_forms)
        }
        news_first, news_last = news_span(story)
        self._db.execute(
            "INSERT OR REPLACE INTO stories (story_id, version, first_seen, last_seen, content,"
            " record, news_first, news_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                story.story_id,
                story.version,
                _utc_text(story.first_seen),
                _utc_text(story.last_seen),
                content,
                story.to_json().decode(),
                _utc_text(news_first),
                _utc_text(news_last),
            ),
        )
        self._db.execute("DELETE FROM story_entities WHERE story_id = ?", (story.story_id,))
        self._db.executemany(
            "INSERT INTO story_entities VALUES (?, ?)",
            [(story.story_id, key) for key in sorted(entity_keys)],
        )
        if self.full_text:
            self._db.execute("DELETE FROM stories_fts WHERE story_id = ?", (story.story_id,))
            self._db.execute("INSERT INTO stories_fts VALUES (?, ?)", (story.story_id, content))

    def get(self, story_id: str) -> Story | None:
        """The stored version of a story, if any."""
        row = self._db.execute(
            "SELECT record FROM stories WHERE story_id = ?", (story_id,)
        ).fetchone()
        return Story.from_json(row[0]) if row else None

    def search(
        self,
        *,
        entity: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Story]:
        """:meth:`StoryStore.search` in SQL: entities through their own table, text through
        the full-text index (or LIKE where SQLite has none)."""
        conditions: list[str] = []
        parameters: list[str | int] = []
        if entity is not None:
            conditions.append(
                "story_id IN (SELECT story_id FROM story_entities WHERE entity_key = ?)"
            )
            parameters.append(entity.casefold())
        words = _WORD.findall(text or "")
        if words and self.full_text:
            conditions.append(
                "story_id IN (SELECT story_id FROM stories_fts WHERE stories_fts MATCH ?)"
            )
            parameters.append(" ".join('"' + word + '"' for word in words))
        else:
            for word in words:
                conditions.append("content LIKE ?")
                parameters.append(f"%{word}%")
        if since is not None:
            conditions.append("news_last >= ?")
            parameters.append(_utc_text(since))
        if until is not None:
            conditions.append("news_first <= ?")
            parameters.append(_utc_text(until))
        where = " AND ".join(conditions) or "1"
        rows = self._db.execute(
            f"SELECT record FROM stories WHERE {where} ORDER BY news_last DESC LIMIT ?",
            [*parameters, limit],
        ).fetchall()
        return [Story.from_json(row[0]) for row in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> SQLiteStoryStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
