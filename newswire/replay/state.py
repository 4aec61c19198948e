"""Replay checkpoints: how far each input file has been published, to resume a replay.

One JSON file per input file and selection (the filters given) in
``Settings.data_dir / "replay"``: the file's path, size and modification time,
and the offset after the last record the broker acknowledged, with the number
of records before it. A checkpoint holds only for the same file unchanged (same
size and modification time); it is written atomically (a temporary file
renamed), after the broker has the records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.text import content_hash


@dataclass(frozen=True)
class FilePosition:
    """How far an input file is read: every record before ``offset`` (``records`` of them;
    the offset is decompressed in a ``.jsonl.gz``); ``complete`` once read to its end."""

    path: Path
    offset: int
    records: int
    complete: bool = False


class ReplayCheckpoints:
    """The checkpoints of the replays of one selection, kept in ``directory``;
    ``from_start`` ignores those saved (and saves new ones)."""

    def __init__(self, directory: Path, selection: str = "", from_start: bool = False) -> None:
        self.directory = directory
        self.selection = selection
        self.from_start = from_start

    def resume_position(self, path: Path) -> FilePosition | None:
        """Where a replay of ``path`` stopped, if it did on this very file; else None."""
        if self.from_start:
            return None
        try:
            saved = orjson.loads(self._file(path).read_bytes())
            stat = path.stat()
        except (OSError, orjson.JSONDecodeError):
            return None
        if (saved.get("path"), saved.get("size"), saved.get("mtime_ns")) != (
            str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
        ):
            return None
        return FilePosition(
            path, int(saved["offset"]), int(saved["records"]), bool(saved.get("complete"))
        )

    def save(self, position: FilePosition) -> None:
        """Record that ``position`` is published (atomically: a temporary file renamed)."""
        stat = position.path.stat()
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self._file(position.path)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(
            orjson.dumps(
                {
                    "path": str(position.path.resolve()),
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "offset": position.offset,
                    "records": position.records,
                    "complete": position.complete,
                    "selection": self.selection,
                }
            )
        )
        os.replace(temporary, target)

    def _file(self, path: Path) -> Path:
        return self.directory / f"{content_hash(f'{path.resolve()}|{self.selection}')}.json"
