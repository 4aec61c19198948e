"""End to end on a real broker: a revision of an article replaces it in its story."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from newswire.replay.inputs import Outbound, publish
from newswire.watch import StoryBoard
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.e2e.conftest import watch_until
from tests.e2e.test_e2e import OTHER_EVENT


def members_of(board: StoryBoard, article_id: str) -> list[int]:
    """The revisions of ``article_id`` listed by the current versions of the stories."""
    return [
        member.revision
        for story in board.stories.values()
        for member in story.members
        if member.id == article_id
    ]


def test_a_second_revision_ends_as_the_one_member_of_its_article(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    start_worker()
    first = RawArticle(
        id="page",
        url="https://example.com/fire",
        text=OTHER_EVENT,
        fetched_at=datetime(2020, 6, 1, tzinfo=UTC),
    )
    second = first.model_copy(
        update={
            "revision": 2,
            "fetched_at": first.fetched_at + timedelta(hours=2),
            "text": OTHER_EVENT.replace("four mountain villages", "six mountain villages"),
        }
    )
    asyncio.run(publish(pipeline_settings, [Outbound.of(first)]))
    watch_until(pipeline_settings, lambda board: board.done_with(["page"]))
    asyncio.run(publish(pipeline_settings, [Outbound.of(second)]))
    board = watch_until(
        pipeline_settings,
        lambda board: members_of(board, "page") == [2] and board.articles["page"].revision == 2,
    )
    assert "six mountain villages" in board.articles["page"].text
    assert board.done_with(["page"]) and not board.dead_letters
