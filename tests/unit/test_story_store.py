"""SQLiteStoryStore: highest version wins, lookup, search by entity, text and time."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.records import Story, StoryEntity, StoryMember
from streams.stories.store import SQLiteStoryStore, StoryStore

DAY = datetime(2020, 5, 25, tzinfo=UTC)


def story(story_id: str, version: int, headline: str, entity: str, day: int) -> Story:
    seen = DAY + timedelta(days=day)
    return Story(
        story_id=story_id,
        version=version,
        headline=headline,
        summary=f"Summary of {headline}.",
        article_ids=[f"{story_id}-a"],
        members=[StoryMember(id=f"{story_id}-a", title=headline, first_seen=seen)],
        entities=[
            StoryEntity(
                id=f"person:{entity.lower()}",
                name=entity,
                type="PERSON",
                surface_forms=[entity.split()[-1]],
                count=2,
                articles=1,
            )
        ],
        first_seen=seen,
        last_seen=seen + timedelta(hours=5),
        article_count=1,
        unique_article_count=1,
    )


@pytest.fixture(params=["fts5", "like"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SQLiteStoryStore]:
    """The store with FTS5 text search (when SQLite has it), and with the LIKE fallback."""
    with SQLiteStoryStore(tmp_path / "stories.db") as opened:
        opened.full_text = opened.full_text and request.param == "fts5"
        yield opened


def test_it_is_a_story_store(store: SQLiteStoryStore) -> None:
    sink: StoryStore = store
    assert sink.get("missing") is None


def test_the_highest_version_wins(store: SQLiteStoryStore) -> None:
    assert store.upsert(story("s1", 2, "Fighters leave Libya", "Khalifa Haftar", 0))
    assert not store.upsert(story("s1", 1, "Older headline", "Khalifa Haftar", 0))
    assert not store.upsert(story("s1", 2, "Same version again", "Khalifa Haftar", 0))
    got = store.get("s1")
    assert got is not None and (got.version, got.headline) == (2, "Fighters leave Libya")
    assert store.upsert(story("s1", 3, "Fighters flown out of Libya", "Khalifa Haftar", 0))
    assert store.search(text="older") == []
    assert [s.headline for s in store.search(text="flown")] == ["Fighters flown out of Libya"]


def test_a_batch_keeps_the_highest_version_of_each_story(store: SQLiteStoryStore) -> None:
    store.upsert(story("s1", 5, "Stored already", "Khalifa Haftar", 0))
    stored = store.upsert_many(
        [
            story("s2", 2, "Quake shakes Chile", "Michelle Bachelet", 1),
            story("s2", 3, "Quake in Chile kills three", "Michelle Bachelet", 1),
            story("s2", 1, "Quake", "Michelle Bachelet", 1),
            story("s1", 4, "Older than the stored one", "Khalifa Haftar", 0),
        ]
    )
    assert stored == 1
    # most recently active first: s2 is a day later
    assert [(s.story_id, s.version) for s in store.search(limit=10)] == [("s2", 3), ("s1", 5)]
    assert store.search(text="older") == [] and store.search(text="shakes") == []


def test_it_survives_reopening(tmp_path: Path) -> None:
    with SQLiteStoryStore(tmp_path / "s.db") as first:
        first.upsert(story("s1", 4, "Quake in Chile", "Michelle Bachelet", 0))
    with SQLiteStoryStore(tmp_path / "s.db") as second:
        assert second.get("s1") == story("s1", 4, "Quake in Chile", "Michelle Bachelet", 0)


def test_search_by_entity_text_and_time(store: SQLiteStoryStore) -> None:
    store.upsert(story("libya", 1, "Fighters leave Libya", "Khalifa Haftar", 0))
    store.upsert(story("chile", 1, "Quake shakes Chile", "Michelle Bachelet", 3))
    store.upsert(story("rehab", 1, "Actress enters rehab", "Lindsay Lohan", 10))

    def ids(found: list[Story]) -> list[str]:
        return [s.story_id for s in found]

    assert ids(store.search(entity="person:khalifa haftar")) == ["libya"]
    assert ids(store.search(entity="HAFTAR")) == ["libya"]  # a surface form
    assert ids(store.search(entity="Lindsay Lohan")) == ["rehab"]
    assert ids(store.search(text="quake chile")) == ["chile"]
    assert ids(store.search(text="quake libya")) == []
    assert ids(store.search(text="summary")) == ["rehab", "chile", "libya"]  # newest first
    assert ids(store.search(since=DAY + timedelta(days=2))) == ["rehab", "chile"]
    assert ids(store.search(until=DAY + timedelta(days=5))) == ["chile", "libya"]
    assert ids(store.search(since=DAY + timedelta(days=2), until=DAY + timedelta(days=5))) == [
        "chile"
    ]
    assert ids(store.search(text="summary", limit=1)) == ["rehab"]
    assert ids(store.search(entity="haftar", text="chile")) == []


def test_workers_opening_a_new_database_together_all_start(tmp_path: Path) -> None:
    # Workers with one data directory start together and share the file.
    script = (
        "import sys, time; from streams.stories.store import SQLiteStoryStore\n"
        "time.sleep(float(sys.argv[2]) - time.time())\n"
        "for n in range(30): SQLiteStoryStore(f'{sys.argv[1]}/stories-{n}.sqlite').close()\n"
    )
    start = str(time.time() + 2)  # every process starts on a new file at once
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), start], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for opener in openers:
        _, errors = opener.communicate(timeout=120)
        assert opener.returncode == 0, errors


def published(story_id: str, headline: str, first: datetime, last: datetime) -> Story:
    """A story replayed from an archive: published on ``first`` to ``last``, seen on DAY."""
    return story(story_id, 1, headline, "Angela Merkel", 0).model_copy(
        update={"first_published": first, "last_published": last}
    )


def test_search_by_time_is_by_news_time_falling_back_to_the_seen_time(
    store: SQLiteStoryStore,
) -> None:
    may_2013 = datetime(2013, 5, 3, tzinfo=UTC)
    store.upsert(published("summit", "Summit in Berlin", may_2013, may_2013 + timedelta(days=2)))
    store.upsert(
        published(
            "budget", "Budget passed", may_2013 + timedelta(days=20), may_2013 + timedelta(days=21)
        )
    )
    store.upsert(story("undated", 1, "Quake shakes Chile", "Michelle Bachelet", 3))  # seen only

    def ids(found: list[Story]) -> list[str]:
        return [s.story_id for s in found]

    assert ids(store.search(since=may_2013, until=may_2013 + timedelta(days=10))) == ["summit"]
    assert ids(store.search(since=may_2013 + timedelta(days=1))) == ["undated", "budget", "summit"]
    assert ids(store.search(until=datetime(2014, 1, 1, tzinfo=UTC))) == ["budget", "summit"]
    assert ids(store.search(since=DAY)) == ["undated"]  # the archive was seen on DAY too
    assert ids(store.search(since=DAY + timedelta(days=3), until=DAY + timedelta(days=4))) == [
        "undated"
    ]


OLD_SCHEMA = """
CREATE TABLE stories (story_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, content TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX stories_last_seen ON stories (last_seen);
CREATE TABLE story_entities (story_id TEXT NOT NULL, entity_key TEXT NOT NULL,
    PRIMARY KEY (story_id, entity_key));
"""


def test_a_file_from_before_news_times_gains_them_from_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    may_2013 = datetime(2013, 5, 3, tzinfo=UTC)
    old_stories = [
        published("summit", "Summit in Berlin", may_2013, may_2013),
        story("undated", 1, "Quake shakes Chile", "Michelle Bachelet", 3),
    ]
    with contextlib.closing(sqlite3.connect(path)) as old, old:
        old.executescript(OLD_SCHEMA)
        old.executemany(
            "INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    s.story_id,
                    s.version,
                    s.first_seen.isoformat(),
                    s.last_seen.isoformat(),
                    s.headline,
                    s.to_json().decode(),
                )
                for s in old_stories
            ],
        )
    for _ in range(2):  # the second opening finds the columns there
        with SQLiteStoryStore(path) as store:
            assert [s.story_id for s in store.search(until=datetime(2014, 1, 1, tzinfo=UTC))] == [
                "summit"
            ]
            assert [s.story_id for s in store.search(since=DAY)] == ["undated"]
            assert store.get("summit") == old_stories[0]
    with SQLiteStoryStore(path) as store:
        store.upsert(
            published("summit", "Summit ends", may_2013, may_2013).model_copy(update={"version": 2})
        )
        assert [s.headline for s in store.search(until=may_2013)] == ["Summit ends"]
