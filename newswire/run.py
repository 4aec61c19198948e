"""Running the pipeline: a faust worker with every agent, optionally replaying inputs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import faust
import orjson

from agents.pipeline import Pipeline
from newswire.broker import broker_for, ensure_topics_sync
from newswire.inputs import Outbound, publish
from newswire.settings import Settings
from newswire.watch import StoryBoard, consume, format_dead_letter, format_story
from schemas.topics import DEAD_LETTERS, ENRICHED, STORIES


def run_worker(
    settings: Settings,
    messages: Sequence[Outbound] = (),
    *,
    once: bool = False,
    timeout: float | None = None,
    stories_out: Path | None = None,
    articles_out: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run every agent on ``settings``' broker (embedded if none), replaying ``messages``.

    Prints each story as it changes. With ``once``, stops when every message
    has reached the stories topic (or the dead-letter topic); otherwise runs
    until interrupted. Returns the process exit code.
    """
    with broker_for(settings) as bound:
        ensure_topics_sync(bound)
        pipeline = Pipeline(bound)
        worker = faust.Worker(
            pipeline.app, loglevel=bound.log_level, quiet=True, redirect_stdouts=False,
            stdout=open(os.devnull, "w"),  # noqa: SIM115 - faust's spinner, not our output
        )
        board = StoryBoard()
        outcome: dict[str, int] = {"exit_code": 0}
        stopping: list[asyncio.Future[None]] = []

        async def replay_and_watch() -> None:
            try:
                await asyncio.wait_for(
                    _replay_and_watch(bound, pipeline, messages, board, once=once, out=out),
                    timeout=timeout,
                )
            except TimeoutError:
                missing = [m.key for m in messages if not board.done_with([m.key])]
                print(f"newswire: gave up after {timeout} s; not yet in a story: "
                      f"{', '.join(missing)}", file=sys.stderr)
                outcome["exit_code"] = 1
            finally:
                _write_outputs(board, stories_out, articles_out)
            if once:  # stopped from outside this task, which the stop cancels
                stopping.append(asyncio.ensure_future(worker.stop()))

        pipeline.app.task(replay_and_watch)
        try:
            worker.execute_from_commandline()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                return int(exit_.code) if isinstance(exit_.code, int) else 1
        return outcome["exit_code"]


async def _replay_and_watch(
    settings: Settings,
    pipeline: Pipeline,
    messages: Sequence[Outbound],
    board: StoryBoard,
    *,
    once: bool,
    out: TextIO,
) -> None:
    if messages:
        await publish(settings, messages)
    expected = [message.key for message in messages]
    prefix = settings.topic_prefix
    outputs = [STORIES.name(prefix), ENRICHED.name(prefix), DEAD_LETTERS.name(prefix)]
    async for topic, _key, value in consume(settings, outputs):
        story = board.apply(settings, topic, value)
        if story is not None:
            print(format_story(story), "\n", file=out, flush=True)
        elif topic == DEAD_LETTERS.name(prefix):
            print(format_dead_letter(board.dead_letters[-1]), file=out, flush=True)
        if once and board.done_with(expected):
            break
    # The story database is written by its own agent: let it catch up.
    while once and not all(
        (stored := pipeline.story_store.get(story.story_id)) and stored.version >= story.version
        for story in board.stories.values()
    ):
        await asyncio.sleep(0.05)


def _write_outputs(board: StoryBoard, stories_out: Path | None, articles_out: Path | None) -> None:
    if stories_out:
        _write_jsonl(stories_out, [story.model_dump(mode="json") for story in
                                   board.stories.values()])
    if articles_out:
        _write_jsonl(articles_out, [article.model_dump(mode="json") for article in
                                    board.articles.values()])


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
