"""Cleaning and NER off the event loop: in a child process, or in a thread.

In a thread, the stage work would share the GIL with the worker's event loop:
every Kafka read and write then waits for the NER thread to give the GIL up
(up to a switch interval each time), which slows every hop of the pipeline and
adds latency. A child process per worker has its own interpreter: the operating
system shares the core between the two, and the event loop runs as soon as
there is I/O. Records go to the child pickled and come back as the JSON the
next topic gets, so the worker does not serialise them again.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from schemas.records import CleanArticle, RawArticle, TaggedArticle
from streams.cleaning import clean_article, warm_up
from streams.entities import EntityTagger, load_tagger
from streams.errors import Rejected, describe_error


class StageWork:
    """The CPU-heavy work of the cleaning and tagging stages, from records to JSON."""

    def __init__(
        self, spacy_model: str, max_article_bytes: int, tagger: EntityTagger | None = None
    ) -> None:
        self.spacy_model = spacy_model
        self.max_article_bytes = max_article_bytes
        self._tagger = tagger

    def clean(self, raws: list[RawArticle]) -> list[bytes | Exception]:
        """Each raw article's clean article as JSON, or why it was refused."""
        results: list[bytes | Exception] = []
        for raw in raws:
            try:
                results.append(clean_article(raw, max_bytes=self.max_article_bytes).to_json())
            except Exception as exc:
                results.append(exc)
        return results

    def warm_up(self) -> None:
        """Load the model and what cleaning loads lazily, before the first article."""
        self.tag([warm_up()])

    def loaded(self, _records: list[Any]) -> list[bytes]:
        """Load the model if it is not yet (the health probe: answers once it is)."""
        if self._tagger is None:
            self.warm_up()
        return []

    def tag(self, articles: list[CleanArticle]) -> list[bytes]:
        """Each article with its canonical entities, as tagged-article JSON."""
        if self._tagger is None:
            self._tagger = load_tagger(self.spacy_model)
        return [
            TaggedArticle(**article.model_dump(), entities=entities).to_json()
            for article, entities in zip(articles, self._tagger.tag(articles), strict=True)
        ]


# The child process's StageWork, created by its initializer, or why it could not be.
_child_work: StageWork | None = None
_child_setup_error: Rejected | None = None

PARENT_CHECK_SECONDS = 0.5
"""How often a stage process checks that its worker is still alive."""


def _exit_with(parent_pid: int) -> None:
    """Exit this process within ``PARENT_CHECK_SECONDS`` of its parent's end, however
    the parent ended (a ``kill -9`` too)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    # Not prctl(PR_SET_PDEATHSIG): it fires when the spawning thread ends, whichever it is.
    threading.Thread(target=watch, name="newswire-parent-watch", daemon=True).start()


def _start_child(parent_pid: int, spacy_model: str, max_article_bytes: int) -> None:
    global _child_work, _child_setup_error
    _exit_with(parent_pid)
    try:
        work = StageWork(spacy_model, max_article_bytes)
        work.warm_up()
    except Exception as exc:
        # Kept to refuse each batch with the reason: an initializer that raises
        # would break the pool, and every batch would only say the process died.
        _child_setup_error = Rejected("stage_setup_failed", describe_error(exc)[1])
    else:
        _child_work = work


def _in_child(method: str, records: list[Any]) -> list[Any]:
    if _child_setup_error is not None:
        raise _child_setup_error
    assert _child_work is not None, "the child process was not initialised"
    try:
        result: list[Any] = getattr(_child_work, method)(records)
    except Exception as exc:
        # Any exception, as one that surely pickles back to the worker.
        raise Rejected(*describe_error(exc)) from None
    return [Rejected(*describe_error(r)) if isinstance(r, Exception) else r for r in result]


class StageRunner:
    """Runs :class:`StageWork` in ``processes`` child processes, or in one thread if 0.

    With an injected ``tagger`` (tests), the work runs in a thread with it.
    """

    def __init__(
        self,
        spacy_model: str,
        max_article_bytes: int,
        processes: int,
        tagger: EntityTagger | None = None,
    ) -> None:
        self._work: StageWork | None = None
        self._processes = processes
        self._child_args = (spacy_model, max_article_bytes)
        self._executor: Executor
        if processes and tagger is None:
            self._executor = self._start_processes()
        else:
            self._work = StageWork(spacy_model, max_article_bytes, tagger)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newswire-cpu")

    def _start_processes(self) -> Executor:
        """New child processes, started now (they warm up before the first batch)."""
        executor = ProcessPoolExecutor(
            max_workers=self._processes,
            # fork would copy the worker's threads and event loop state.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child,
            initargs=(os.getpid(), *self._child_args),
        )
        for _ in range(self._processes):
            executor.submit(_in_child, "clean", [])
        return executor

    async def clean(self, raws: list[RawArticle]) -> list[bytes | Exception]:
        """:meth:`StageWork.clean`, off the event loop."""
        return await self._run("clean", raws)

    async def tag(self, articles: list[CleanArticle]) -> list[bytes]:
        """:meth:`StageWork.tag`, off the event loop."""
        return await self._run("tag", articles)

    async def answers(self, timeout: float) -> bool:
        """Whether the stage processes (or thread) answer within ``timeout`` seconds with
        the model loaded."""
        try:
            await asyncio.wait_for(self._run("loaded", []), timeout)
        except Exception:
            return False
        return True

    async def _run(self, method: str, records: list[Any]) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._work is not None:
            return await loop.run_in_executor(self._executor, getattr(self._work, method), records)
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, _in_child, method, records)
        except BrokenProcessPool:
            # The child died (killed, out of memory, a crash in native code): start
            # new ones for what comes next; this batch is retried or dead-lettered.
            if self._executor is executor:
                self._executor = self._start_processes()
            raise Rejected("stage_process_died", f"the {method} process died") from None

    def close(self) -> None:
        """Stop the child processes (or thread) without waiting for queued work."""
        self._executor.shutdown(wait=False, cancel_futures=True)
