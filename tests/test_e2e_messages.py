"""End to end: big messages and dead letters never stall the pipeline, and a worker's
stage processes end with it. Real broker (Tansu) and real worker processes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psutil
import pytest

from newswire.inputs import Outbound, publish, read_inputs
from newswire.settings import Settings
from schemas.records import RawArticle
from tests.conftest import SEEDS, watch_until
from tests.test_e2e import OTHER_EVENT, SEED_IDS

pytestmark = pytest.mark.e2e

SUBJECTS = ("The council", "Residents of the valley", "The regional water board",
            "Engineers from the university", "Local farmers", "The mayor's office",
            "Volunteers from the old town", "The transport ministry")
VERBS = ("reviewed", "debated", "published", "questioned", "approved", "postponed", "funded",
         "inspected")
OBJECTS = ("plans for the new reservoir", "the repair of the northern bridge",
           "a report on winter flooding", "the budget for rural schools",
           "a survey of the old canal", "proposals for cheaper buses",
           "the replanting of the river banks", "measurements of the groundwater")


def long_report(size: int) -> str:
    """A plain-text report of about ``size`` characters: a title, then varied paragraphs."""
    paragraphs = ["Valley council works through a long session on water and roads"]
    total, number = 0, 0
    while total < size:
        number += 1
        sentences = []
        for part in range(5):
            i = number * 7 + part * 3
            what = f"{SUBJECTS[i % 8]} {VERBS[i // 8 % 8]} {OBJECTS[(i // 64 + part) % 8]}"
            sentences.append(f"{what} on day {number} of the session, at meeting "
                             f"{number * 5 + part}.")
        paragraphs.append(" ".join(sentences))
        total += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)


def navigation_page(size: int) -> str:
    """An HTML page of about ``size`` characters that holds only navigation links."""
    links, total, number = [], 0, 0
    while total < size:
        links.append(f'<li><a href="/section/{number}/index.html">Section {number}</a></li>')
        total += len(links[-1])
        number += 1
    return ("<html><head><title>Site map</title></head><body><nav><ul>" + "".join(links)
            + "</ul></nav></body></html>")


def html_message(article_id: str, html: str) -> Outbound:
    return Outbound.of(RawArticle(id=article_id, html=html, fetched_at=datetime.now(UTC)))


def text_message(article_id: str, text: str) -> Outbound:
    return Outbound.of(RawArticle(id=article_id, text=text, fetched_at=datetime.now(UTC)))


def _publish(settings: Settings, messages: list[Outbound]) -> None:
    asyncio.run(publish(settings, messages))


def test_big_messages_end_in_a_story_or_a_dead_letter_and_never_stop_the_worker(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    limit = pipeline_settings.max_article_bytes
    big = {
        "links": html_message("links", navigation_page(1_860_000)),
        "nested": html_message("nested", "<div>" * 100_000 + "text" + "</div>" * 100_000),
        "huge": text_message("huge", long_report(limit + 500_000)),
        "long": text_message("long", long_report(1_500_000)),
    }
    assert len(big["links"].value) > 1_860_000 and len(big["nested"].value) > 1_100_000
    assert len(big["huge"].value) > limit and 1_500_000 < len(big["long"].value) < limit
    worker = start_worker()
    _publish(pipeline_settings, [*big.values(), *read_inputs([SEEDS])])
    board = watch_until(pipeline_settings,
                        lambda b: b.done_with([*big, *SEED_IDS.values()]), timeout=300)

    letters = {letter.article_id: letter for letter in board.dead_letters}
    assert {key: (letter.stage, letter.error_type) for key, letter in letters.items()} == {
        "links": ("clean", "pathological_html"), "nested": ("clean", "pathological_html"),
        "huge": ("clean", "too_large")}
    assert all(letter.reason for letter in letters.values())
    huge = letters["huge"]
    assert huge.payload_truncated
    assert huge.payload_bytes == len(big["huge"].value)
    assert huge.payload_sha256 == hashlib.sha256(big["huge"].value).hexdigest()
    assert len(huge.payload) == pipeline_settings.dead_letter_payload_bytes
    # The valid 1.5 MB article, bigger than a Kafka client's default request, has its story.
    assert "long" in board.stories[board.articles["long"].story_id].article_ids
    (seed_story,) = {board.articles[seed].story_id for seed in SEED_IDS.values()}
    assert sorted(board.stories[seed_story].article_ids) == sorted(SEED_IDS.values())

    # A poison pill would crash the restarted worker again: it goes on instead.
    worker.terminate()
    assert worker.wait(timeout=30) == 0
    start_worker()
    _publish(pipeline_settings, [text_message("chile-fire", OTHER_EVENT)])
    after = watch_until(pipeline_settings, lambda b: "chile-fire" in b.articles
                        and b.done_with(["chile-fire"]), timeout=180)
    assert "chile-fire" in after.stories[after.articles["chile-fire"].story_id].article_ids


def test_a_killed_worker_leaves_no_stage_process_behind(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    assert pipeline_settings.stage_processes == 1
    worker = start_worker()
    _publish(pipeline_settings, [text_message("chile-fire", OTHER_EVENT)])
    watch_until(pipeline_settings, lambda b: b.done_with(["chile-fire"]))  # the stages work
    children = psutil.Process(worker.pid).children(recursive=True)
    stage_processes = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
    assert len(stage_processes) == 1

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.monotonic()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"alive {time.monotonic() - killed_at:.1f} s after the worker's kill -9"
