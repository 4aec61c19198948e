"""What the follower remembers across restarts, in SQLite (``data_dir/follow.sqlite``).

``resources``: each feed and sitemap polled, with its ETag, Last-Modified,
next poll time (wall clock) and failures in a row. ``entries``: each article
seen, by id: its URL and what the feed said of it (title, summary, date, and
a ``mark`` that changes when the entry does), the revision and content hash
last published (revision 0: none yet) and whether that was the page or the
feed's summary, the page's validators, and, while its page is wanted, when to
try again and how many tries failed. Rows not seen in any source for
``follow_state_days`` are forgotten. ``robots``: each site's robots.txt and when to
read it again; ``sources``: the feeds and sitemaps found on each home page given,
and when to look again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, next_poll REAL NOT NULL,
    failures INTEGER NOT NULL, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    article_id TEXT PRIMARY KEY, url TEXT NOT NULL, source TEXT, provenance TEXT NOT NULL,
    title TEXT, summary TEXT, published_at TEXT, mark TEXT NOT NULL,
    revision INTEGER NOT NULL, content_hash TEXT, kind TEXT NOT NULL,
    etag TEXT, last_modified TEXT, next_try REAL, failures INTEGER NOT NULL,
    first_failed REAL, seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS robots (
    origin TEXT PRIMARY KEY, body TEXT, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY, resources TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_due ON entries (next_try) WHERE next_try IS NOT NULL;
"""


@dataclass
class ResourceState:
    """A feed or sitemap: its validators and schedule."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    next_poll: float = 0.0
    failures: int = 0
    seen_at: float = 0.0


@dataclass
class EntryState:
    """An article the sources list, and what was published of it."""

    article_id: str
    url: str
    source: str | None
    provenance: str
    title: str | None
    summary: str | None
    published_at: datetime | None
    mark: str
    revision: int = 0
    content_hash: str | None = None
    kind: str = "page"
    etag: str | None = None
    last_modified: str | None = None
    next_try: float | None = 0.0
    failures: int = 0
    first_failed: float | None = None
    seen_at: float = 0.0


class FollowState:
    """The follower's SQLite state; every write is committed at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def resource(self, url: str) -> ResourceState:
        """The state of ``url`` (a fresh one, due now, if unknown)."""
        row = self._db.execute(
            f"SELECT {_columns(ResourceState)} FROM resources WHERE url = ?", (url,)
        ).fetchone()
        return ResourceState(*row) if row else ResourceState(url)

    def save_resource(self, state: ResourceState) -> None:
        """Store ``state``."""
        self._put("resources", astuple(state))

    def entry(self, article_id: str) -> EntryState | None:
        """What is known of ``article_id``, or None."""
        row = self._db.execute(
            f"SELECT {_columns(EntryState)} FROM entries WHERE article_id = ?", (article_id,)
        ).fetchone()
        return _entry(row) if row else None

    def due_entries(self, now: float) -> list[EntryState]:
        """Entries whose page is wanted and may be tried at ``now``."""
        rows = self._db.execute(
            f"SELECT {_columns(EntryState)} FROM entries WHERE next_try <= ? ORDER BY next_try",
            (now,),
        ).fetchall()
        return [_entry(row) for row in rows]

    def next_entry_try(self) -> float | None:
        """The earliest time an entry's page is wanted, if any is."""
        row = self._db.execute("SELECT MIN(next_try) FROM entries").fetchone()
        return row[0]

    def save_entries(self, states: list[EntryState]) -> None:
        """Store ``states`` in one transaction."""
        with self._db:
            for state in states:
                values = astuple(state)
                published = values[6].isoformat() if state.published_at else None
                self._put("entries", (*values[:6], published, *values[7:]), commit=False)

    def forget_older_than(self, moment: float) -> int:
        """Forget resources and entries not seen since ``moment``; return how many rows."""
        with self._db:
            removed = sum(
                self._db.execute(f"DELETE FROM {table} WHERE seen_at < ?", (moment,)).rowcount
                for table in ("resources", "entries")
            )
        return removed

    def robots(self, origin: str) -> tuple[str | None, float] | None:
        """The robots.txt of ``origin`` (its text, None if it has none) and when it
        expires, if stored."""
        row = self._db.execute(
            "SELECT body, expires FROM robots WHERE origin = ?", (origin,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def save_robots(self, origin: str, body: str | None, expires: float) -> None:
        """Store the robots.txt of ``origin`` (None: it has none)."""
        self._put("robots", (origin, body, expires))

    def discovered(self, url: str, now: float) -> list[str] | None:
        """The feeds and sitemaps found on the page ``url``, unless expired at ``now``."""
        row = self._db.execute(
            "SELECT resources FROM sources WHERE url = ? AND expires > ?", (url, now)
        ).fetchone()
        return row[0].split() if row else None

    def save_discovered(self, url: str, resources: list[str], expires: float) -> None:
        """Store what was found on the page ``url``."""
        self._put("sources", (url, " ".join(resources), expires))

    def _put(self, table: str, values: tuple[object, ...], commit: bool = True) -> None:
        marks = ", ".join("?" * len(values))
        self._db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", values)
        if commit:
            self._db.commit()


def _columns(record: type) -> str:
    return ", ".join(item.name for item in fields(record))


def _entry(row: tuple[object, ...]) -> EntryState:
    published = row[6]
    moment = datetime.fromisoformat(published) if isinstance(published, str) else None
    return EntryState(*row[:6], moment, *row[7:])  # type: ignore[arg-type, call-arg]
