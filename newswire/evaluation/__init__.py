"""Evaluation scripts: score each stage on a development corpus given by path."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newswire.arguments import UsageError


def read_json_lines(
    path: Path, fields: Sequence[str | tuple[str, ...]], limit: int | None = None
) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (gzipped if it ends in ``.gz``), the first
    ``limit`` if given; blank lines are skipped.

    Each line must be an object with every one of ``fields`` (a tuple: any one of
    its names); :class:`UsageError` names the first line that is not.
    """
    wanted = ", ".join(field if isinstance(field, str) else " or ".join(field) for field in fields)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or not all(
                not row.keys().isdisjoint((field,) if isinstance(field, str) else field)
                for field in fields
            ):
                raise UsageError(
                    f"{path} line {number}: not a corpus line: each line must be "
                    f"a JSON object with the fields {wanted}"
                )
            rows.append(row)
    return rows
