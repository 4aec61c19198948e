"""What `newswire run` shows: stories, progress and the summary (pure formatting)."""

from __future__ import annotations

import io
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta

from newswire.watch import (
    Placement,
    RunSummary,
    StatusLine,
    StoryBoard,
    StoryMark,
    format_progress,
    format_story,
    format_summary,
    largest_stories,
    plural,
    summarize,
)
from schemas.graph import DEAD_LETTERS, ENRICHED, STORIES
from schemas.records import DeadLetter, DedupVerdict, EnrichedArticle, Story, StoryMember
from schemas.settings import Settings

SETTINGS = Settings(topic_prefix="t")
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _story(
    story_id: str,
    article_ids: list[str],
    *,
    sources: int = 1,
    copies: int = 0,
    version: int = 1,
    last_seen: datetime = START,
) -> Story:
    return Story(
        story_id=story_id,
        version=version,
        headline=f"Headline of {story_id}",
        article_ids=article_ids,
        sources=[f"source-{n}" for n in range(sources)],
        first_seen=START,
        last_seen=last_seen,
        article_count=len(article_ids),
        unique_article_count=len(article_ids) - copies,
    )


def _article(
    article_id: str, story_id: str, *, duplicate_of: str | None = None, revision: int = 1
) -> bytes:
    return EnrichedArticle(
        id=article_id,
        fetched_at=START,
        text="Some text.",
        fingerprint="f",
        revision=revision,
        dedup=DedupVerdict(article_id=article_id, duplicate_of=duplicate_of),
        duplicate_of=duplicate_of,
        story_id=story_id,
    ).to_json()


def _letter(
    article_id: str | None,
    *,
    stage: str = "clean",
    error_type: str = "invalid_json",
    failed_at: datetime = START,
) -> bytes:
    return DeadLetter.of(
        b"{not json",
        stage=stage,
        reason="not JSON",
        error_type=error_type,
        article_id=article_id,
        failed_at=failed_at,
    ).to_json()


def _board(*records: tuple[str, bytes]) -> StoryBoard:
    board = StoryBoard()
    for topic, value in records:
        board.apply(SETTINGS, topic, value)
    return board


STORY, ENRICH, DEAD = (spec.name("t") for spec in (STORIES, ENRICHED, DEAD_LETTERS))


def test_plural_says_one_thing_in_the_singular() -> None:
    assert [plural(n, "article") for n in (0, 1, 2)] == ["0 articles", "1 article", "2 articles"]
    assert [plural(n, "story", "stories") for n in (1, 3)] == ["1 story", "3 stories"]


def test_a_story_of_one_article_reads_in_the_singular() -> None:
    first_line = format_story(_story("s1", ["a"])).splitlines()[0]
    assert first_line == "story s1 v1 · 1 article (0 duplicates) · 1 source"
    first_line = format_story(_story("s2", ["a", "b", "c"], sources=2, copies=1)).splitlines()[0]
    assert first_line == "story s2 v1 · 3 articles (1 duplicate) · 2 sources"


def test_summary_counts_the_run_articles_stories_copies_revisions_and_dead_letters() -> None:
    board = _board(
        (ENRICH, _article("a", "s1")),
        (ENRICH, _article("b", "s1", duplicate_of="a")),
        (ENRICH, _article("c", "s2", revision=2)),
        (STORY, _story("s1", ["a", "b"], copies=1).to_json()),
        (STORY, _story("s2", ["c"]).to_json()),
        (DEAD, _letter("bad-1")),
        (DEAD, _letter("bad-2", stage="tag", error_type="stage_process_died")),
        # Another article's, from before the run: not this run's.
        (DEAD, _letter("old", failed_at=START - timedelta(days=1))),
        # No article id (an unreadable input line), written during the run: the run's.
        (DEAD, _letter(None, error_type="invalid_record")),
        # An article of another run's story.
        (ENRICH, _article("other", "s3")),
        (STORY, _story("s3", ["other"]).to_json()),
    )
    summary = summarize(board, ["a", "b", "c", "bad-1", "bad-2", "late"], START, seconds=7.94)
    assert summary == RunSummary(
        articles=6,
        placed=3,
        stories=2,
        copies=1,
        revisions=1,
        dead_letters=Counter(
            {
                ("clean", "invalid_json"): 1,
                ("clean", "invalid_record"): 1,
                ("tag", "stage_process_died"): 1,
            }
        ),
        unsettled=1,
        seconds=7.94,
    )
    assert format_summary(summary) == (
        "newswire: done in 7.9 s: 6 articles · 3 in 2 stories · 1 copy · 1 revision · "
        "3 dead letters (clean/invalid_json 1, clean/invalid_record 1, tag/stage_process_died 1)"
        " · 1 not yet in a story"
    )


def test_summary_of_a_clean_run_is_in_the_singular_where_it_should_be() -> None:
    board = _board((ENRICH, _article("a", "s1")), (STORY, _story("s1", ["a"]).to_json()))
    assert format_summary(summarize(board, ["a"], START, seconds=1.0)) == (
        "newswire: done in 1.0 s: 1 article · 1 in 1 story · 0 copies · 0 revisions · "
        "0 dead letters"
    )


def test_an_article_counts_as_placed_only_once_its_story_lists_it() -> None:
    board = _board((ENRICH, _article("a", "s1")), (STORY, _story("s1", ["x"]).to_json()))
    board.expect(["a", "gone"])
    assert board.pending == {"a", "gone"}
    board.apply(SETTINGS, STORY, _story("s1", ["x", "a"], version=2).to_json())
    board.apply(SETTINGS, DEAD, _letter("gone"))
    assert board.pending == set()
    assert board.done_with(["a", "gone"])
    assert summarize(board, ["a", "gone"], START, 1.0).placed == 1


DETAILS = {
    "summary": "What happened.",
    "members": [StoryMember(id="a", first_seen=START), StoryMember(id="b", first_seen=START)],
}


def test_a_board_without_details_tracks_and_summarises_the_same() -> None:
    records = [
        (ENRICH, _article("a", "s1")),
        (ENRICH, _article("b", "s1", duplicate_of="a", revision=2)),
        (STORY, _story("s1", ["a", "b"], copies=1).model_copy(update=DETAILS).to_json()),
    ]
    full, lean = StoryBoard(), StoryBoard(details=False)
    for board in (full, lean):
        board.expect({"a": 1, "b": 2})
        for topic, value in records:
            board.apply(SETTINGS, topic, value)

    assert lean.pending == full.pending == set()
    assert summarize(lean, ["a", "b"], START, 1.0) == summarize(full, ["a", "b"], START, 1.0)
    assert lean.placements == full.placements
    assert lean.placements["b"] == Placement("s1", 2, "a")
    assert lean.story_marks == full.story_marks
    assert lean.story_marks["s1"].article_ids == {"a", "b"}
    assert full.articles["a"].text == "Some text."
    assert full.stories["s1"].summary and full.stories["s1"].members
    assert (lean.articles, lean.stories) == ({}, {})


def test_a_board_without_details_holds_under_1_kb_an_article() -> None:
    count = 2_000
    records = [
        record
        for number in range(count)
        for record in (
            (ENRICH, _article(f"article-{number}", f"story-{number}")),
            (STORY, _story(f"story-{number}", [f"article-{number}"]).to_json()),
        )
    ]
    board = StoryBoard(details=False)
    tracemalloc.start()
    try:
        for topic, value in records:
            board.apply(SETTINGS, topic, value)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(map(board.placed, board.placements)) == count
    assert held / count < 1_000, f"{held / count:,.0f} bytes an article"


def test_progress_line() -> None:
    assert format_progress(462, 120, 1) == (
        "newswire: 462 articles published · 120 in stories · 1 dead-lettered"
    )
    assert format_progress(1, 0, 0) == (
        "newswire: 1 article published · 0 in stories · 0 dead-lettered"
    )


def test_largest_stories_first_then_the_most_recent() -> None:
    stories = [
        StoryMark.of(story)
        for story in (
            _story("small", ["a"]),
            _story("big", ["b", "c", "d"]),
            _story("medium-old", ["e", "f"], last_seen=START),
            _story("medium-new", ["g", "h"], last_seen=START + timedelta(hours=1)),
        )
    ]
    assert [s.story_id for s in largest_stories(stories, 3)] == ["big", "medium-new", "medium-old"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_off_a_terminal_is_a_line_every_few_seconds_when_it_changed() -> None:
    stream, clock = io.StringIO(), FakeClock()
    status = StatusLine(stream, every=5.0, clock=clock, terminal=False)
    status.update("one")
    clock.now = 4.9
    status.update("two")
    assert stream.getvalue() == ""
    clock.now = 5.0
    status.update("three")
    clock.now = 11.0
    status.update("three")  # unchanged: not repeated
    clock.now = 12.0
    status.update("four")
    clock.now = 16.0
    status.update("five")  # changed, but 4 s after the last line
    clock.now = 17.0
    status.update("six")
    assert stream.getvalue() == "three\nfour\nsix\n"


def test_progress_on_a_terminal_is_rewritten_in_place_and_cleared_for_other_lines() -> None:
    stream, clock = io.StringIO(), FakeClock()
    status = StatusLine(stream, clock=clock, terminal=True)
    clock.now = 1.0
    status.update("10 published")
    clock.now = 1.05
    status.update("11 published")  # within the refresh interval: skipped
    clock.now = 1.2
    status.update("12 published")
    status.say("newswire: worker ready")
    clock.now = 1.4
    status.update("13 published")
    assert stream.getvalue() == (
        "\r10 published\x1b[K"
        "\r12 published\x1b[K"
        "\r\x1b[K"
        "newswire: worker ready\n"
        "\r13 published\x1b[K"
    )
