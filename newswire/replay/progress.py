"""A replay's progress on standard error: records read, published and skipped by
reason, the rate, and the position in the file being read with an ETA where the
sizes are known (not for standard input)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from newswire.replay.inputs import ReplayCounts
from newswire.watch import StatusLine


class ReplayProgress:
    """Shows a replay's progress on ``status``; the reader calls :meth:`at` per record.

    ``sizes`` are the input files' sizes in bytes, for the overall ETA.
    """

    def __init__(
        self,
        counts: ReplayCounts,
        status: StatusLine,
        sizes: dict[Path, int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counts = counts
        self.status = status
        self._sizes = sizes
        self._clock = clock
        self._started = clock()
        self._path: Path | None = None
        self._offset = 0
        self._done_bytes = 0
        self._read_bytes = 0

    def at(self, path: Path, offset: int) -> None:
        """The reader is at ``offset`` in ``path``: update the line if it is due."""
        if path != self._path:
            if self._path is not None:
                self._done_bytes += self._sizes.get(self._path, 0)
            self._path, self._offset = path, offset
        self._read_bytes += max(offset - self._offset, 0)
        self._offset = offset
        if self.status.due():
            self.status.update(self.line())

    def line(self) -> str:
        """The progress in one line."""
        counts = self.counts
        elapsed = max(self._clock() - self._started, 1e-9)
        skipped = ", ".join(f"{n:,} {reason}" for reason, n in counts.skipped.most_common())
        text = (
            f"newswire: {counts.read:,} records read, {counts.published:,} published "
            f"({counts.published / elapsed:,.0f}/s), {counts.skipped.total():,} skipped"
            f"{f' ({skipped})' if skipped else ''}"
        )
        if self._path is None:
            return text
        size = self._sizes.get(self._path)
        if size is None:
            return f"{text}; {self._path} at {_mb(self._offset)}"
        text += (
            f"; {self._path.name} {self._offset / max(size, 1):.0%} "
            f"({_mb(self._offset)} of {_mb(size)})"
        )
        remaining = sum(self._sizes.values()) - self._done_bytes - self._offset
        if self._read_bytes and remaining > 0:
            text += f", ETA {_duration(remaining * elapsed / self._read_bytes)}"
        return text

    def finish(self) -> None:
        """Take the progress line off a terminal; elsewhere, write the last one."""
        if self.status.terminal:
            self.status.clear()
        else:
            self.status.say(self.line())


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
