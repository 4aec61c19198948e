"""The story clock: one implausible date moves nothing; stories carry their news time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.records import DedupedArticle, DedupVerdict, Story
from streams.stories.clusterer import CLOCK_SKEW, NewsClock, StoryClusterer
from streams.text import fingerprint

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
YEAR_5138 = datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)  # 99999999999999 read as milliseconds
SEEN_AFTER = timedelta(minutes=5)

TEXTS = {
    "quay": "The harbour authority reopened the northern quay after repairs to the sea wall. "
    "Fishing boats returned to the quay and the harbour master praised the engineers.",
    "vote": "The regional parliament passed the water budget after a long debate on reservoirs. "
    "Opposition members said the reservoir plan leaves farmers without irrigation.",
    "bridge": "Engineers closed the old river bridge after inspectors found cracks in its piers. "
    "Commuters crossed the river by ferry while the bridge piers were surveyed.",
}


def article(article_id: str, topic: str, published_at: datetime | None) -> DedupedArticle:
    text = TEXTS[topic] + f" Update {article_id}."
    return DedupedArticle(
        id=article_id,
        text=text,
        fingerprint=fingerprint(text),
        source=f"{article_id}.example",
        published_at=published_at,
        fetched_at=published_at or START,
        dedup=DedupVerdict(article_id=article_id),
        entities=[],
    )


def stream(bad_date: datetime | None) -> list[tuple[DedupedArticle, datetime]]:
    """Three stories over four days, each article seen five minutes after it was published;
    on day two an article of the vote story carries ``bad_date``, seen like the others."""
    day = timedelta(days=1)
    planned = [
        ("quay-1", "quay", 0),
        ("vote-1", "vote", 0),
        ("quay-2", "quay", 1),
        ("vote-2", "vote", 1),
        ("quay-3", "quay", 3),
        ("vote-3", "vote", 3),
        ("bridge-1", "bridge", 3),
        ("bridge-2", "bridge", 4),
        ("quay-4", "quay", 11),
    ]
    arrivals = [
        (article(i, topic, START + days * day), START + days * day + SEEN_AFTER)
        for i, topic, days in planned
    ]
    bad_seen = START + 2 * day + SEEN_AFTER
    arrivals.insert(4, (article("vote-bad", "vote", bad_date), bad_seen))
    return arrivals


def placed(arrivals: list[tuple[DedupedArticle, datetime]]) -> dict[str, Story]:
    clusterer = StoryClusterer()
    return {a.id: clusterer.add(a, seen_at)[0] for a, seen_at in arrivals}


def summary(story: Story) -> tuple[object, ...]:
    return (
        story.story_id,
        story.version,
        story.article_ids,
        story.first_seen,
        story.last_seen,
        story.first_published,
        story.last_published,
    )


def test_an_article_dated_5138_changes_no_story_after_it() -> None:
    with_bad_date = placed(stream(YEAR_5138))
    without_date = placed(stream(None))
    assert list(with_bad_date) == list(without_date)
    for article_id in with_bad_date:
        assert summary(with_bad_date[article_id]) == summary(without_date[article_id]), article_id
    # The stream is one that a jump of the clock would split: the stories go on after it,
    # and a week of quiet (day 3 to day 11) still retires the quay story.
    stories = with_bad_date
    assert stories["quay-3"].story_id == stories["quay-1"].story_id
    assert stories["vote-3"].story_id == stories["vote-bad"].story_id == stories["vote-1"].story_id
    assert stories["bridge-2"].story_id == stories["bridge-1"].story_id
    assert len({stories[i].story_id for i in ("quay-1", "vote-1", "bridge-1")}) == 3
    assert stories["quay-4"].story_id != stories["quay-1"].story_id


def test_a_date_after_the_seen_time_is_clamped_to_it_on_the_clock() -> None:
    seen_at = START + SEEN_AFTER
    clock = NewsClock()
    assert clock.time_of(YEAR_5138, seen_at) == seen_at
    assert clock.time_of(seen_at + 2 * CLOCK_SKEW, seen_at) == seen_at
    within = seen_at + CLOCK_SKEW
    assert clock.time_of(within, seen_at) == within
    archived = datetime(2013, 5, 3, tzinfo=UTC)  # a replayed archive: long before it was seen
    assert clock.time_of(archived, seen_at) == archived
    assert clock.time_of(None, seen_at) == seen_at


def test_an_undated_article_falls_at_the_news_time_of_the_stream() -> None:
    clock = NewsClock()
    replayed_at = datetime(2026, 12, 1, tzinfo=UTC)
    # A replayed archive of 2013: the undated articles fall among the dated ones.
    for day in range(5):
        clock.observe(datetime(2013, 5, 3 + day, tzinfo=UTC), replayed_at)
    later = replayed_at + timedelta(seconds=30)
    assert clock.time_of(None, later) == datetime(2013, 5, 5, tzinfo=UTC) + timedelta(seconds=30)
    # A live stream: one retrospective does not move the undated articles' time.
    live = NewsClock()
    for minute in range(9):
        live.observe(START + timedelta(minutes=minute), START + timedelta(minutes=minute + 1))
    live.observe(datetime(2013, 5, 3, tzinfo=UTC), START + timedelta(minutes=10))
    assert live.time_of(None, START + timedelta(minutes=11)) == START + timedelta(minutes=10)


def test_a_replayed_archive_with_undated_articles_keeps_its_stories() -> None:
    """The first article is dated years before the replay, the others are undated: they
    join its story instead of retiring it at the time of the replay."""
    clusterer = StoryClusterer()
    replayed_at = datetime(2026, 12, 1, tzinfo=UTC)
    first = article("dated", "quay", datetime(2020, 5, 28, tzinfo=UTC))
    first_story, _ = clusterer.add(first, replayed_at)
    for number in range(3):
        story, _ = clusterer.add(
            article(f"undated-{number}", "quay", None), replayed_at + timedelta(seconds=number + 1)
        )
        assert story.story_id == first_story.story_id


def test_stories_carry_the_first_and_last_publication_time_of_their_members() -> None:
    stories = placed(stream(YEAR_5138))
    vote = stories["vote-3"]
    assert vote.first_published == START
    assert vote.last_published == START + timedelta(days=3)  # not the year 5138
    assert vote.first_seen == START + SEEN_AFTER

    clusterer = StoryClusterer()
    undated, _ = clusterer.add(article("u", "bridge", None), START)
    assert undated.first_published is None and undated.last_published is None
    assert undated.first_seen == START
