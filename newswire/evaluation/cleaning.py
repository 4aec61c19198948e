"""Evaluate newswire's HTML cleaning against plain trafilatura, side by side.

Corpus: a ``pages.jsonl.gz`` file, one page a line:
``{"url", "html", "must_contain": [...], "must_not_contain": [...], "meta": {...}}``.

Text scoring (as trafilatura's evaluation): over all pages, a ``must_contain``
snippet found in the extracted text is a true positive, a missing one a false
negative; a ``must_not_contain`` snippet found is a false positive. "Found"
means a substring after collapsing whitespace on both sides. A page a system
extracts nothing from (or rejects) counts as empty text.

Metadata scoring, per field, over the pages whose ``meta`` has that field (a
page newswire rejects counts as wrong):
- title: equal after whitespace collapsing and case folding;
- author: the expected names (a string or a list) and the extracted ones,
  split on ``;`` and `` and ``, normalised as titles, compared as sets;
- date: equal on the YYYY-MM-DD day.
newswire's metadata is compared with ``trafilatura.bare_extraction(html,
with_metadata=True)``'s.

Timing: each system runs on one thread, after one untimed warm-up call each
(language model loading is not throughput); for each page newswire and
trafilatura run back to back, alternating which goes first, so load on the
machine hits both alike. Throughput is pages divided by the summed wall time of that
system's calls (newswire's includes metadata and language detection; plain
``trafilatura.extract(html)`` extracts text only).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import trafilatura

from newswire.arguments import ArgumentParser, positive_int
from newswire.evaluation import read_json_lines
from schemas.records import RawArticle
from streams.clean.extract import clean_article
from streams.errors import Rejected

_SPACES = re.compile(r"\s+")
_NAME_SEPARATORS = re.compile(r";| and ")
METADATA_FIELDS = ("title", "author", "date")


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _fold(text: str) -> str:
    return _collapse(text).casefold()


def _names(value: str | list[str]) -> set[str]:
    joined = "; ".join(value) if isinstance(value, list) else value
    return {_fold(name) for name in _NAME_SEPARATORS.split(joined) if name.strip()}


def metadata_matches(field_name: str, expected: str | list[str], found: str | None) -> bool:
    """Whether ``found`` is right for ``expected`` under the module's rules."""
    if not found:
        return False
    if field_name == "author":
        return _names(expected) == _names(found)
    expected_text = "; ".join(expected) if isinstance(expected, list) else expected
    if field_name == "date":
        return expected_text[:10] == found[:10]
    return _fold(expected_text) == _fold(found)


@dataclass
class SystemScore:
    """Counts and timing of one system over the corpus."""

    true_positives: int = 0
    false_negatives: int = 0
    false_positives: int = 0
    seconds: float = 0.0
    pages: int = 0
    metadata_right: dict[str, int] = field(default_factory=dict)
    metadata_total: dict[str, int] = field(default_factory=dict)

    def score_text(self, page: dict[str, Any], text: str) -> None:
        haystack = _collapse(text)
        for snippet in page.get("must_contain", []):
            if _collapse(snippet) in haystack:
                self.true_positives += 1
            else:
                self.false_negatives += 1
        self.false_positives += sum(
            _collapse(snippet) in haystack for snippet in page.get("must_not_contain", [])
        )

    def score_metadata(self, page: dict[str, Any], found: dict[str, str | None]) -> None:
        for name in METADATA_FIELDS:
            expected = (page.get("meta") or {}).get(name)
            if expected:
                right = metadata_matches(name, expected, found.get(name))
                self.metadata_total[name] = self.metadata_total.get(name, 0) + 1
                self.metadata_right[name] = self.metadata_right.get(name, 0) + right

    def summary(self) -> dict[str, float]:
        tp, fn, fp = self.true_positives, self.false_negatives, self.false_positives
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "pages_per_second": self.pages / self.seconds if self.seconds else 0.0,
        }
        for name in METADATA_FIELDS:
            total = self.metadata_total.get(name, 0)
            result[f"{name}_accuracy"] = self.metadata_right.get(name, 0) / total if total else 0.0
        return result


def read_pages(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Pages of a ``pages.jsonl.gz`` (or plain ``.jsonl``) corpus file."""
    return read_json_lines(path, ("url", "html"), limit)


def run_newswire(page: dict[str, Any]) -> tuple[str, dict[str, str | None]]:
    """newswire's text and metadata for a page (empty when rejected)."""
    raw = RawArticle(
        id=page["url"], url=page["url"], html=page["html"], fetched_at=datetime.now(UTC)
    )
    try:
        article = clean_article(raw)
    except Rejected:
        return "", {}
    return article.text, {
        "title": article.title,
        "author": "; ".join(article.authors) or None,
        "date": article.published_at.date().isoformat() if article.published_at else None,
    }


def run_trafilatura_text(page: dict[str, Any]) -> str:
    """Plain ``trafilatura.extract(html)`` with its defaults."""
    return trafilatura.extract(page["html"]) or ""


def trafilatura_metadata(page: dict[str, Any]) -> dict[str, str | None]:
    """trafilatura's own metadata (``bare_extraction`` with metadata), untimed."""
    document = trafilatura.bare_extraction(page["html"], url=page["url"], with_metadata=True)
    if not isinstance(document, trafilatura.settings.Document):
        return {}
    return {"title": document.title, "author": document.author, "date": document.date}


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def evaluate(path: Path, limit: int | None = None) -> dict[str, dict[str, float]]:
    """Score newswire and trafilatura on the corpus at ``path``."""
    newswire, plain = SystemScore(), SystemScore()
    pages = read_pages(path, limit)
    if pages:  # untimed warm-up: model loading and first-call caches are not throughput
        run_newswire(pages[0])
        run_trafilatura_text(pages[0])
    for number, page in enumerate(pages):
        runs: list[tuple[str, Callable[[], Any]]] = [
            ("newswire", partial(run_newswire, page)),
            ("trafilatura", partial(run_trafilatura_text, page)),
        ]
        for name, call in runs if number % 2 == 0 else reversed(runs):
            result, seconds = _timed(call)
            if name == "newswire":
                text, metadata = result
                newswire.score_text(page, text)
                newswire.score_metadata(page, metadata)
                newswire.seconds += seconds
                newswire.pages += 1
            else:
                plain.score_text(page, result)
                plain.score_metadata(page, trafilatura_metadata(page))
                plain.seconds += seconds
                plain.pages += 1
    return {"newswire": newswire.summary(), "trafilatura": plain.summary()} | {
        "pages": {"count": float(newswire.pages)}
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Plain-text table: one row per system."""
    columns = (
        "precision",
        "recall",
        "f1",
        "pages_per_second",
        *(f"{name}_accuracy" for name in METADATA_FIELDS),
    )
    header = f"{'system':<12}" + "".join(f"{column:>18}" for column in columns)
    rows = [header]
    for system in ("newswire", "trafilatura"):
        rows.append(
            f"{system:<12}" + "".join(f"{results[system][column]:>18.3f}" for column in columns)
        )
    ratio = results["newswire"]["pages_per_second"] / (
        results["trafilatura"]["pages_per_second"] or 1.0
    )
    rows.append(f"pages: {int(results['pages']['count'])}; newswire/trafilatura speed: {ratio:.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: evaluate, print the table, optionally write JSON."""
    parser = ArgumentParser(prog="newswire evaluate cleaning", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="pages.jsonl.gz corpus file")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N pages")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    results = evaluate(args.path, args.limit)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
