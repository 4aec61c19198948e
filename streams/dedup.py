"""Dedup: exact, near and spun copies of earlier articles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.records import DedupVerdict, TaggedArticle


class DedupIndex:
    """Signatures of the articles seen so far, and the verdict for each."""

    def check(self, article: TaggedArticle, seen_at: datetime) -> DedupVerdict:
        """Verdict for ``article``, adding it to the index; same id again, same verdict."""
        raise NotImplementedError

    def entry(self, article_id: str) -> dict[str, Any]:
        """JSON-able state of one indexed article, for a changelog table."""
        raise NotImplementedError

    def restore(self, entry: dict[str, Any]) -> None:
        """Put back an article from :meth:`entry` (after a restart)."""
        raise NotImplementedError
