"""Cleaning and NER off the event loop: in a child process, or in a thread.

In a thread, the stage work would share the GIL with the worker's event loop:
every Kafka read and write then waits for the NER thread to give the GIL up
(up to a switch interval each time), which slows every hop of the pipeline and
adds latency. A child process per worker has its own interpreter: the operating
system shares the core between the two, and the event loop runs as soon as
there is I/O. The raw messages go to the child as they came, which parses, cleans
and tags each once, and come back as the JSON the clean and tagged topics get, so
the worker neither parses nor serialises them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

import orjson

from schemas.records import CleanArticle, Entity, RawArticle, extended_json
from streams.clean.extract import clean_article, warm_up
from streams.errors import Rejected, describe_error
from streams.tag.entities import EntityTagger, load_tagger


@dataclass(frozen=True)
class Prepared:
    """One raw message cleaned and tagged: the records the worker sends for it."""

    article_id: str
    fetched_at: datetime
    clean: bytes
    """The ``articles.clean`` record (JSON)."""
    tagged: bytes | Rejected
    """The ``articles.tagged`` record (JSON), or why tagging refused the article."""


@dataclass(frozen=True)
class PreparedBatch:
    """What :meth:`StageWork.prepare` gives for a batch: per message, its records or
    why cleaning refused it; and the seconds each stage took on the batch."""

    results: list[Prepared | Rejected]
    seconds: dict[str, float]


class StageWork:
    """The CPU-heavy work of the cleaning and tagging stages, from raw messages to JSON."""

    def __init__(
        self, spacy_model: str, max_article_bytes: int, tagger: EntityTagger | None = None
    ) -> None:
        self.spacy_model = spacy_model
        self.max_article_bytes = max_article_bytes
        self._tagger = tagger

    def prepare(self, values: list[bytes]) -> PreparedBatch:
        """Parse, clean and tag each raw article message, once: its clean and tagged
        records as JSON, or why a stage refused it."""
        started = time.perf_counter()
        cleaned: list[CleanArticle | Rejected] = []
        for value in values:
            try:
                cleaned.append(
                    clean_article(RawArticle.from_json(value), max_bytes=self.max_article_bytes)
                )
            except Exception as exc:
                cleaned.append(Rejected(*describe_error(exc)))
        tagging = time.perf_counter()
        articles = [article for article in cleaned if isinstance(article, CleanArticle)]
        entities = iter(self._entities(articles))
        results = [
            article if isinstance(article, Rejected) else _prepared(article, next(entities))
            for article in cleaned
        ]
        done = time.perf_counter()
        return PreparedBatch(results, {"clean": tagging - started, "tag": done - tagging})

    def _entities(self, articles: list[CleanArticle]) -> list[list[Entity] | Rejected]:
        """Each article's entities; if the batch fails, each article is tagged alone, so
        only the one that fails is refused."""
        if self._tagger is None:
            self._tagger = load_tagger(self.spacy_model)
        try:
            return list(self._tagger.tag(articles))
        except Exception as exc:
            if len(articles) == 1:
                return [Rejected(*describe_error(exc))]
        return [found for article in articles for found in self._entities([article])]

    def warm_up(self) -> None:
        """Load the model and what cleaning loads lazily, before the first article."""
        self._entities([warm_up()])

    def loaded(self, _values: list[bytes]) -> PreparedBatch:
        """Load the model if it is not yet (the health probe: answers once it is)."""
        if self._tagger is None:
            self.warm_up()
        return PreparedBatch([], {})


def _prepared(article: CleanArticle, entities: list[Entity] | Rejected) -> Prepared:
    """``article``'s records: the tagged one is the clean one's JSON with its entities."""
    fields = article.model_dump(mode="json")
    tagged = (
        entities
        if isinstance(entities, Rejected)
        else extended_json(fields, entities=[entity.model_dump(mode="json") for entity in entities])
    )
    return Prepared(article.id, article.fetched_at, orjson.dumps(fields), tagged)


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


def _in_child(method: str, values: list[bytes]) -> PreparedBatch:
    if _child_setup_error is not None:
        raise _child_setup_error
    assert _child_work is not None, "the child process was not initialised"
    try:
        batch: PreparedBatch = getattr(_child_work, method)(values)
    except Exception as exc:
        # Any exception, as one that surely pickles back to the worker.
        raise Rejected(*describe_error(exc)) from None
    return batch


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
            executor.submit(_in_child, "prepare", [])
        return executor

    async def prepare(self, values: list[bytes]) -> PreparedBatch:
        """:meth:`StageWork.prepare`, off the event loop."""
        return await self._run("prepare", values)

    async def answers(self, timeout: float) -> bool:
        """Whether the stage processes (or thread) answer within ``timeout`` seconds with
        the model loaded."""
        try:
            await asyncio.wait_for(self._run("loaded", []), timeout)
        except Exception:
            return False
        return True

    async def _run(self, method: str, values: list[bytes]) -> PreparedBatch:
        loop = asyncio.get_running_loop()
        if self._work is not None:
            work: Callable[[list[bytes]], PreparedBatch] = getattr(self._work, method)
            return await loop.run_in_executor(self._executor, work, values)
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, _in_child, method, values)
        except BrokenProcessPool:
            # The child died (killed, out of memory, a crash in native code): start
            # new ones for what comes next; this batch is retried or dead-lettered.
            if self._executor is executor:
                self._executor = self._start_processes()
            raise Rejected("stage_process_died", f"the {method} process died") from None

    def close(self) -> None:
        """Stop the child processes (or thread) without waiting for queued work."""
        self._executor.shutdown(wait=False, cancel_futures=True)
