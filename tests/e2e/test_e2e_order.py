"""Ingest order decides which of two copies is the original, with any number of workers
and across a worker crash (issue #26): planted copies, each right after its original,
through the real broker and real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from newswire.evaluation.synthetic import with_planted_copies
from newswire.watch import StoryBoard
from schemas.settings import Settings
from tests.e2e import test_reliability
from tests.e2e.conftest import watch_until

pipeline_settings = test_reliability.pipeline_settings
"""Two raw partitions (dealt to in turn: an original and its copy go to different
ones), the default dedup and story partitioning."""

ORIGINALS = 40
KILL_AFTER_PLACED = 16
IN_FLIGHT_SECONDS = 1.0
"""Articles placed this soon after the kill may have been on their way already."""


class Verdicts:
    """Every verdict each article was given, across its deliveries."""

    def __init__(self) -> None:
        self.given: defaultdict[str, set[str | None]] = defaultdict(set)
        self._seen: dict[str, int] = {}

    def take(self, board: StoryBoard) -> None:
        """Record the verdicts delivered since the last call."""
        for article_id, deliveries in board.deliveries.items():
            if self._seen.get(article_id) != deliveries:
                self._seen[article_id] = deliveries
                self.given[article_id].add(board.articles[article_id].duplicate_of)


class Crash:
    """Kill the last worker with SIGKILL once ``after`` articles are placed and start
    another; record how many are placed over time after that."""

    def __init__(
        self, worker: subprocess.Popen[bytes], after: int, replace: Callable[[], object]
    ) -> None:
        self.worker, self.after, self.replace = worker, after, replace
        self.killed_at: float | None = None
        self.placed_at_kill = 0
        self.timeline: list[tuple[float, int]] = []

    def watch(self, placed: int) -> None:
        """Take the number of articles placed now."""
        if self.killed_at is None:
            if placed >= self.after:
                os.kill(self.worker.pid, signal.SIGKILL)
                self.worker.wait(timeout=10)
                self.killed_at, self.placed_at_kill = time.monotonic(), placed
                self.replace()
            return
        self.timeline.append((time.monotonic() - self.killed_at, placed))

    def recovery(self) -> tuple[float, float]:
        """Seconds from the kill to the first article placed after the records in flight,
        and to the last article placed."""
        settled = max(
            [placed for since, placed in self.timeline if since < IN_FLIGHT_SECONDS],
            default=self.placed_at_kill,
        )
        after = [
            since
            for since, placed in self.timeline
            if since >= IN_FLIGHT_SECONDS and placed > settled
        ]
        return after[0], self.timeline[-1][0]


def _placed(board: StoryBoard) -> int:
    return sum(board.placed(article_id) for article_id in board.placements)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_planted_copy_points_at_its_original(
    pipeline_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    workers: int,
) -> None:
    _planted_copies_keep_their_originals(pipeline_settings, start_worker, tmp_path, workers, False)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_planted_copy_points_at_its_original_after_a_killed_worker(
    pipeline_settings: Settings,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
    workers: int,
) -> None:
    _planted_copies_keep_their_originals(pipeline_settings, start_worker, tmp_path, workers, True)


def _planted_copies_keep_their_originals(
    settings: Settings,
    start_worker: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
    workers: int,
    crash: bool,
) -> list[subprocess.Popen[bytes]]:
    """Replay planted copies through ``workers`` workers (one killed and replaced if
    ``crash``): no copy inverted or missed. The workers left running."""
    stream = list(with_planted_copies(ORIGINALS))
    copies = {article["id"]: original for article, original in stream if original}
    ids = [article["id"] for article, _ in stream]
    path = tmp_path / "planted.jsonl"
    path.write_bytes(b"".join(orjson.dumps(article) + b"\n" for article, _ in stream))
    running = [start_worker() for _ in range(workers)]
    replay = test_reliability._replay(settings, path)
    assert replay.returncode == 0, replay.stderr

    verdicts = Verdicts()
    killing = (
        Crash(running.pop(), KILL_AFTER_PLACED, lambda: running.append(start_worker()))
        if crash
        else None
    )

    def all_placed(board: StoryBoard) -> bool:
        verdicts.take(board)
        if killing:
            killing.watch(_placed(board))
        return board.done_with(ids)

    board = watch_until(settings, all_placed, timeout=180)
    if killing:
        first, last = killing.recovery()
        print(
            f"\n{workers} worker(s), one killed with {killing.placed_at_kill} of {len(ids)} "
            f"placed: the next placed {first:.1f} s after the kill, the last {last:.1f} s"
        )
    assert not board.dead_letters
    inverted = sorted(
        original for original in copies.values() if verdicts.given[original] != {None}
    )
    missed = sorted(copy for copy, original in copies.items() if verdicts.given[copy] != {original})
    print(f"{len(copies)} planted copies: {len(inverted)} inverted, {len(missed)} missed")
    assert (inverted, missed) == ([], [])
    return running
