"""Running the pipeline: a faust worker with every agent, optionally replaying inputs."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import faust
import orjson

from agents.pipeline import Pipeline
from newswire.broker import broker_for, ensure_topics_sync
from newswire.inputs import Message, publish
from newswire.settings import Settings
from newswire.watch import StoryBoard, consume, format_dead_letter, format_story
from schemas.topics import DEAD_LETTERS, ENRICHED, STORIES


@dataclass
class WorkerRun:
    """A worker with every agent; with ``watch``, it also replays ``messages`` and
    prints each story as it changes.

    With ``once``, it stops when every message has reached its story (or the
    dead-letter topic), or exits 1 after ``timeout`` seconds; otherwise it runs
    until interrupted.
    """

    settings: Settings
    watch: bool = False
    messages: Iterable[Message] = ()
    published: list[str] = field(default_factory=list)
    """Keys of the articles published, as they are: what ``once`` waits for."""
    once: bool = False
    timeout: float | None = None
    stories_out: Path | None = None
    articles_out: Path | None = None
    out: TextIO = sys.stdout
    board: StoryBoard = field(default_factory=StoryBoard)
    exit_code: int = 0

    def execute(self) -> int:
        """Run on the configured broker (or an embedded one); return the exit code."""
        use_event_loop(self.settings.event_loop)
        with broker_for(self.settings) as bound:
            ensure_topics_sync(bound)
            self.settings = bound
            self.pipeline = Pipeline(bound)
            self.worker = faust.Worker(
                self.pipeline.app, loglevel=bound.log_level.upper(), logfile=sys.stderr,
                quiet=True, redirect_stdouts=False,
                stdout=io.StringIO(),  # faust's banner and spinner: not our output
            )
            # The spinner sets the root logger to DEBUG to spin on every record:
            # every debug line of faust and aiokafka would then be formatted.
            self.worker.spinner = None
            if self.watch:
                self.pipeline.app.task(self._replay_and_watch)
            try:
                self.worker.execute_from_commandline()
            except SystemExit as exit_:
                if exit_.code not in (0, None):
                    return exit_.code if isinstance(exit_.code, int) else 1
            finally:
                self.pipeline.stages.close()
        return self.exit_code

    async def _replay_and_watch(self) -> None:
        try:
            await asyncio.wait_for(self._watch(), timeout=self.timeout)
        except TimeoutError:
            missing = [key for key in self.published if not self.board.done_with([key])]
            print(f"newswire: gave up after {self.timeout} s; not yet in a story: "
                  f"{', '.join(missing)}", file=sys.stderr)
            self.exit_code = 1
        finally:
            self._write_outputs()
        if self.once:
            # Stopped from a task of its own: the stop cancels this one.
            self._stopping = asyncio.ensure_future(self.worker.stop())

    async def _watch(self) -> None:
        if self.messages:
            await publish(self.settings, self.messages, on_published=self.published.append)
        expected = self.published
        prefix = self.settings.topic_prefix
        outputs = [STORIES.name(prefix), ENRICHED.name(prefix), DEAD_LETTERS.name(prefix)]
        async for topic, _key, value in consume(self.settings, outputs):
            story = self.board.apply(self.settings, topic, value)
            if story is not None:
                print(format_story(story), "\n", file=self.out, flush=True)
            elif topic == DEAD_LETTERS.name(prefix):
                print(format_dead_letter(self.board.dead_letters[-1]), file=self.out, flush=True)
            if self.once and self.board.done_with(expected):
                break
        while self.once and not self._story_store_is_current():
            await asyncio.sleep(0.05)

    def _story_store_is_current(self) -> bool:
        """Whether the story database (written by its own agent) has every latest version."""
        for story in self.board.stories.values():
            stored = self.pipeline.story_store.get(story.story_id)
            if stored is None or stored.version < story.version:
                return False
        return True

    def _write_outputs(self) -> None:
        if self.stories_out:
            _write_jsonl(self.stories_out, [story.model_dump(mode="json")
                                            for story in self.board.stories.values()])
        if self.articles_out:
            _write_jsonl(self.articles_out, [article.model_dump(mode="json")
                                             for article in self.board.articles.values()])


def use_event_loop(name: str) -> None:
    """Make ``name`` ("uvloop" or "asyncio") the event loop of the worker and its
    consumer thread; uvloop falls back to asyncio where it is not installed."""
    if name == "uvloop" and importlib.util.find_spec("uvloop") is not None:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
