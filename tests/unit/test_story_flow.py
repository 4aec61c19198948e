"""The story stage's orchestration without faust: the waiting articles, the index's
replies, the reply timeout and the order in which messages may be acknowledged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas.graph import ENRICHED, STORIES, STORY_CANDIDATES, STORY_INDEX
from schemas.records import DedupedArticle, DedupVerdict, StoryIndexEntry, StoryIndexReply
from streams.stories.clusterer import IndexedArticle
from streams.stories.flow import StoryFlow
from streams.text import fingerprint
from tests.conftest import SEEDS

SEEN = datetime(2020, 5, 28, tzinfo=UTC)


class Log:
    """The story log in a dict."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def append(self, article_id: str, entry: dict[str, Any]) -> None:
        self.entries[article_id] = entry

    def prune(self, keep: Callable[[str], bool]) -> None:
        self.entries = {key: value for key, value in self.entries.items() if keep(key)}


def seed(number: str) -> DedupedArticle:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    text = path.read_text()
    return DedupedArticle(
        id=number,
        text=text,
        fingerprint=fingerprint(text),
        fetched_at=SEEN,
        dedup=DedupVerdict(article_id=number, kind="original"),
    )


def flow(partitions: int, log: Log | None = None) -> StoryFlow[str]:
    index: dict[int, dict[str, IndexedArticle]] = {}
    return StoryFlow(
        partitions=partitions,
        cold_after=timedelta(days=3),
        reply_timeout=10.0,
        log=log or Log(),
        index_entries=lambda p: index.setdefault(p, {}),
    )


def test_in_process_an_article_is_ready_at_once_and_placed_with_its_story() -> None:
    log = Log()
    stories = flow(0, log)
    assert stories.admit("m1", seed("000"), 0, SEEN, now=0.0) == []
    ready = stories.next_ready(now=0.0)
    assert ready is not None and ready[1] is None and ready[0].held == "m1"
    sent = stories.place(ready[0])
    assert [record.topic for record in sent] == [STORIES, ENRICHED]
    story_id = orjson.loads(sent[0].value)["story_id"]
    assert orjson.loads(sent[1].value)["story_id"] == story_id == sent[0].key
    assert list(log.entries) == ["000"]
    assert stories.next_ready(now=0.0) is None


def test_partitioned_an_article_waits_for_every_probed_partition_then_is_placed() -> None:
    stories = flow(3)
    probes = stories.admit("m1", seed("000"), 0, SEEN, now=0.0)
    assert probes and {record.topic for record in probes} == {STORY_INDEX}
    for probe in probes:
        assert stories.next_ready(now=0.0) is None  # a reply is missing
        (reply,) = stories.index(StoryIndexEntry.from_json(probe.value), probe.partition or 0)
        assert reply.topic == STORY_CANDIDATES
        stories.take_reply(StoryIndexReply.from_json(reply.value))
    ready = stories.next_ready(now=0.0)
    assert ready is not None and ready[1] is None
    assert [record.topic for record in stories.place(ready[0])] == [STORIES, ENRICHED]


def test_articles_are_released_in_order_and_one_without_its_replies_times_out() -> None:
    stories = flow(2)
    assert stories.admit("first", seed("000"), 0, SEEN, now=0.0)
    assert stories.admit("second", seed("001"), 1, SEEN, now=5.0)
    assert stories.next_ready(now=9.9) is None  # first waits, and second after it
    first = stories.next_ready(now=10.0)
    assert first is not None and first[0].held == "first"
    assert first[1] is not None and first[1].code == "story_index_timeout"
    assert "000" not in stories.clusterer
    assert stories.next_ready(now=10.0) is None  # second has waited 5 s
    second = stories.next_ready(now=15.0)
    assert second is not None and second[0].held == "second" and second[1] is not None


def test_a_failed_admission_is_withdrawn() -> None:
    stories = flow(2)
    stories.admit("m1", seed("000"), 0, SEEN, now=0.0)
    stories.withdraw("m1", "000")
    assert not stories.waiting and stories.next_ready(now=100.0) is None
