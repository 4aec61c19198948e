"""Running the pipeline: a faust worker with every agent, optionally replaying inputs.

What ``newswire run`` prints: short lines on stderr saying what it is waiting for
(the stage process's warm-up, the embedded broker, the consumer group), the
reader's progress as it publishes (records read, published, skipped; a last line of
it once every input is published), then the replay's progress on stderr (rewritten
in place on a terminal, a line every few seconds elsewhere), and a summary line on
stdout once every input is in its story or dead-lettered. A replay of at most
:data:`LIVE_OUTPUT_MAX_ARTICLES` articles prints each story as it changes and each
dead letter; a larger one prints its :data:`FINAL_STORIES_SHOWN` largest stories at
the end. ``quiet`` prints only the summary and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import orjson

from agents.runtime.broker import broker_for, ensure_topics_sync
from newswire.replay.inputs import Message, Outbound, ReplayCounts, publish
from newswire.replay.progress import ReplayProgress
from newswire.replay.state import ReplayCheckpoints
from newswire.watch import (
    StatusLine,
    StoryBoard,
    belongs_to_run,
    consume,
    format_dead_letter,
    format_progress,
    format_story,
    format_summary,
    largest_stories,
    plural,
    summarize,
)
from schemas.graph import DEAD_LETTERS, ENRICHED, STORIES
from schemas.records import DeadLetter, Story
from schemas.settings import Settings

if TYPE_CHECKING:
    import faust

    from agents.runtime.stage_processes import StageRunner

EXIT_TIMEOUT = 1
"""Exit code of ``once`` when some input is not in a story after ``timeout`` seconds."""
EXIT_DEAD_LETTERED = 3
"""Exit code of ``once`` when every input went through but some were dead-lettered."""
STORE_WAIT_SECONDS = 5.0
"""How long a following run waits for the story database before its replay's report."""
LIVE_OUTPUT_MAX_ARTICLES = 20
"""A replay of at most this many articles prints each story as it changes."""
FINAL_STORIES_SHOWN = 10
"""How many stories a larger replay prints at the end (the largest)."""
MISSING_IDS_SHOWN = 10
"""How many of the articles not yet in a story a timeout names."""
OWN_BROKER_SESSION_TIMEOUT = 2.0
OWN_BROKER_HEARTBEAT_INTERVAL = 0.5


@dataclass
class WorkerRun:
    """A worker with every agent; with ``watch``, it also replays ``messages`` and
    reports on them (see the module docstring).

    With ``once``, it stops when every message has reached its story (or the
    dead-letter topic), exiting :data:`EXIT_DEAD_LETTERED` if any was
    dead-lettered, or exits :data:`EXIT_TIMEOUT` after ``timeout`` seconds;
    otherwise it runs until interrupted.
    """

    settings: Settings
    watch: bool = False
    messages: Iterable[Message] = ()
    published: dict[str, int] = field(default_factory=dict)
    """The articles published, as they are, with their latest revision: what ``once``
    waits for."""
    counts: ReplayCounts = field(default_factory=ReplayCounts)
    """What the replay's reader counts (records read, skipped): shown as it publishes."""
    checkpoints: ReplayCheckpoints | None = None
    """Where the replay saves how far each input is published."""
    rate: float | None = None
    """Articles a second the replay publishes at most."""
    once: bool = False
    timeout: float | None = None
    stories_out: Path | None = None
    articles_out: Path | None = None
    quiet: bool = False
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    board: StoryBoard = field(default_factory=StoryBoard)
    exit_code: int = 0

    def __post_init__(self) -> None:
        self._started = time.monotonic()
        self._started_at = datetime.now(UTC)
        self.status = StatusLine(self.err)
        self._replay_progress = ReplayProgress(self.counts, self.status, {})
        self._reported = False
        self._publishing = True
        self._held_back: list[str] | None = []
        """What a replay small enough to show as it goes has to show once published."""
        self.board.details = bool(self.stories_out or self.articles_out)

    def execute(self) -> int:
        """Run on the configured broker (or an embedded one); return the exit code."""
        use_event_loop(self.settings.event_loop)
        # First (before faust is even imported), so that the stage process warms up
        # while the broker starts and the worker joins its group.
        from agents.runtime.stage_processes import StageRunner

        stages = StageRunner(
            self.settings.spacy_model,
            self.settings.max_article_bytes,
            self.settings.stage_processes,
        )
        if self.settings.stage_processes:
            self._say("warming up the stage process (NER model, date parsers)")
        own_broker = not self.settings.broker_url
        if own_broker:
            self._say("starting the embedded broker")
        try:
            from agents.runtime.app import Pipeline
            from agents.runtime.prompt import PromptWorker

            with broker_for(self.settings) as bound:
                ensure_topics_sync(bound)
                self.settings = bound
                # A run that watches shows each dead letter itself.
                self.pipeline = Pipeline(bound, stages=stages, log_dead_letters=not self.watch)
                if own_broker:
                    _single_member_group(self.pipeline.app)
                self.worker = PromptWorker(
                    self.pipeline.app,
                    loglevel=bound.log_level.upper(),
                    logfile=sys.stderr,
                    quiet=True,
                    redirect_stdouts=False,
                    json_logs=bound.log_format == "json",
                    stdout=io.StringIO(),  # faust's banner and spinner: not our output
                )
                # The spinner sets the root logger to DEBUG to spin on every record:
                # every debug line of faust and aiokafka would then be formatted.
                self.worker.spinner = None
                if self.settings.stage_processes:
                    self.worker.loop.create_task(self._report_warm_stages(stages))
                if self.watch:
                    self.pipeline.app.task(self._replay_and_watch)
                self._say("joining the consumer group")
                try:
                    self.worker.execute_from_commandline()
                except SystemExit as exit_:
                    if exit_.code not in (0, None):
                        return exit_.code if isinstance(exit_.code, int) else 1
        finally:
            stages.close()
        return self.exit_code

    async def _report_warm_stages(self, stages: StageRunner) -> None:
        try:
            await stages.prepare([])  # queued behind the warm-up
        except Exception as error:  # each batch will be refused with the reason
            self.status.say(f"newswire: the stage process did not start: {error}")
        else:
            self._say(f"stage process warm ({self._elapsed():.1f} s)")

    async def _replay_and_watch(self) -> None:
        self._say(f"worker ready: partitions assigned ({self._elapsed():.1f} s)")
        try:
            await asyncio.wait_for(self._watch(), timeout=self.timeout)
        except TimeoutError:
            missing = sorted(self.board.pending)
            named = ", ".join(missing[:MISSING_IDS_SHOWN])
            more = len(missing) - MISSING_IDS_SHOWN
            self.status.say(
                f"newswire: gave up after {self.timeout} s; not yet in a story: "
                f"{named}{f' and {more} more' if more > 0 else ''}"
            )
            self.exit_code = EXIT_TIMEOUT
        finally:
            self._write_outputs()
        self._report()
        if self.once:
            # Stopped from a task of its own: the stop cancels this one.
            self._stopping = asyncio.ensure_future(self.worker.stop())

    def _published(self, message: Outbound) -> None:
        self.published[message.key] = max(message.revision, self.published.get(message.key, 1))
        if not self.quiet and self.status.due():
            self.status.update(self._replay_progress.line())

    async def _watch(self) -> None:
        """Publish the messages while following the output topics (a replay's outputs are
        taken as they come, not read back at its end), and show them: until the replay is
        through with ``once``, else for ever."""
        following = asyncio.ensure_future(self._follow_outputs())
        try:
            if self.messages:
                await publish(
                    self.settings,
                    self.messages,
                    self.counts,
                    on_published=self._published,
                    checkpoints=self.checkpoints,
                    rate=self.rate,
                )
                if not self.quiet:
                    self.status.say(self._replay_progress.line())
            self.board.expect(self.published)
            self._publishing = False
            for text in self._held_back or ():
                self._print(text)
            if self.board.pending:
                await following  # until every article is settled (once), or for ever
            elif not self.once:
                await self._report_replay()
                await following
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        if self.once:  # not when the timeout cancels this: it bounds this wait too
            await self._story_store_caught_up()

    async def _follow_outputs(self) -> None:
        """Take the output records as they come: while the replay publishes, into the
        board (what a small replay will show held back); then shown, until every article
        is settled (``once``) or for ever."""
        prefix = self.settings.topic_prefix
        outputs = [STORIES.name(prefix), ENRICHED.name(prefix), DEAD_LETTERS.name(prefix)]
        async for topic, _key, value in consume(self.settings, outputs):
            if self._reported and not self.board.details:
                self._show_record(topic, value)  # past its replay: shown, not held
                continue
            story = self.board.apply(self.settings, topic, value)
            if self._publishing:
                self._hold_back(topic, story)
                continue
            shown = len(self.published) <= LIVE_OUTPUT_MAX_ARTICLES or self._reported
            if shown and (text := self._shown_text(topic, story)):
                self._print(text)
            if self._reported:
                continue
            if self.board.pending:
                self._show_progress()
            elif self.once:
                return
            else:
                await self._report_replay()

    def _hold_back(self, topic: str, story: Story | None) -> None:
        """Keep what to show of a record once the replay is published, while the replay
        may still be one small enough to show as it goes."""
        if self._held_back is not None and len(self.published) > LIVE_OUTPUT_MAX_ARTICLES:
            self._held_back = None
        if self._held_back is not None and (text := self._shown_text(topic, story)):
            self._held_back.append(text)

    async def _report_replay(self) -> None:
        """Report a following run's replay, once the story database has caught up (its
        largest stories are shown from there, with details) or after a short wait."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._story_store_caught_up(), STORE_WAIT_SECONDS)
        self._report()

    async def _story_store_caught_up(self) -> None:
        """Return once the story database holds every story's latest version."""
        while not self._story_store_is_current():
            await asyncio.sleep(0.05)

    def _shown_text(self, topic: str, story: Story | None) -> str | None:
        """What a person sees of an output record: a story that changed, or a dead letter."""
        if self.quiet:
            return None
        if story is not None:
            return format_story(story) + "\n"
        if topic == DEAD_LETTERS.name(self.settings.topic_prefix):
            return format_dead_letter(self.board.dead_letters[-1])
        return None

    def _show_record(self, topic: str, value: bytes) -> None:
        """Show a story update or a dead letter without keeping it: a run that watches
        past its replay holds no output, so its memory does not grow with the stream."""
        if self.quiet:
            return
        prefix = self.settings.topic_prefix
        if topic == STORIES.name(prefix):
            self._print(format_story(Story.from_json(value)) + "\n")
        elif topic == DEAD_LETTERS.name(prefix):
            self._print(format_dead_letter(DeadLetter.from_json(value)))

    def _show_progress(self) -> None:
        if self.quiet or not self.status.due():
            return
        inputs = set(self.published)
        settled = len(inputs) - len(self.board.pending)
        dead_inputs = len(self.board.dead_ids & inputs)
        dead_lettered = sum(
            belongs_to_run(letter, inputs, self._started_at) for letter in self.board.dead_letters
        )
        self.status.update(format_progress(len(inputs), settled - dead_inputs, dead_lettered))

    def _report(self) -> None:
        """Print what the replay came to (once): the final stories of a large replay,
        then the summary line; set the exit code."""
        if self._reported:
            return
        self._reported = True
        summary = summarize(self.board, self.published, self._started_at, self._elapsed())
        if not self.quiet and len(self.published) > LIVE_OUTPUT_MAX_ARTICLES:
            inputs = set(self.published)
            stories = [
                mark
                for mark in self.board.story_marks.values()
                if not inputs.isdisjoint(mark.article_ids)
            ]
            for mark in largest_stories(stories, FINAL_STORIES_SHOWN):
                # Its latest version, as the story database and a --stories-out run hold it.
                story = self.pipeline.story_store.get(mark.story_id)
                if story is None or story.version < mark.version:
                    story = self.board.stories.get(mark.story_id, story)
                if story is not None:
                    self._print(format_story(story) + "\n")
            if len(stories) > FINAL_STORIES_SHOWN:
                more = plural(len(stories) - FINAL_STORIES_SHOWN, "more story", "more stories")
                self._print(f"... and {more} (--stories-out FILE writes them all)\n")
        self._print(format_summary(summary))
        if summary.dead_lettered and self.exit_code == 0:
            self.exit_code = EXIT_DEAD_LETTERED

    def _print(self, text: str) -> None:
        self.status.clear()
        print(text, file=self.out, flush=True)

    def _say(self, what: str) -> None:
        """A line on stderr saying what the run is doing."""
        if not self.quiet:
            self.status.say(f"newswire: {what}")

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _story_store_is_current(self) -> bool:
        """Whether the story database (written by its own agent) has every latest version."""
        for mark in self.board.story_marks.values():
            stored = self.pipeline.story_store.get(mark.story_id)
            if stored is None or stored.version < mark.version:
                return False
        return True

    def _write_outputs(self) -> None:
        if self.stories_out:
            _write_jsonl(
                self.stories_out,
                [story.model_dump(mode="json") for story in self.board.stories.values()],
            )
        if self.articles_out:
            _write_jsonl(
                self.articles_out,
                [article.model_dump(mode="json") for article in self.board.articles.values()],
            )


def _single_member_group(app: faust.App) -> None:
    """Shorten the session timeout of the worker on the run's own broker, its group's
    only member: Tansu holds a join for half the session timeout (whole seconds, at
    least one), and with one member no other worker's failure needs detecting."""
    app.conf.broker_session_timeout = OWN_BROKER_SESSION_TIMEOUT
    app.conf.broker_heartbeat_interval = OWN_BROKER_HEARTBEAT_INTERVAL


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
