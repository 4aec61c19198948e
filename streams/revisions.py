"""Revisions of an article: which of two records under one article id a stage keeps.

An updated page at a known URL comes again with the same article id, the next
``revision`` and its own ``content_hash``. A stage that holds an article compares
what it holds with each record under that id:

- the same content hash: a **redelivery** (at-least-once delivery, a replay), which
  changes nothing;
- another content hash and a greater ``(revision, fetched_at)``: an **update**, which
  replaces what the stage holds of the article;
- another content hash and a lower or equal ``(revision, fetched_at)``: a **stale**
  revision replayed late, which changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Revised(Protocol):
    """A record of one revision of an article (a clean, tagged or deduped article)."""

    @property
    def revision(self) -> int: ...

    @property
    def fetched_at(self) -> datetime: ...

    @property
    def content_hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Revision:
    """Which content of an article a stage holds: revision number, fetch time, content hash."""

    number: int
    fetched_at: datetime
    content_hash: str

    @classmethod
    def of(cls, article: Revised) -> Revision:
        """The revision ``article`` is."""
        return cls(article.revision, article.fetched_at, article.content_hash)

    def updates(self, held: Revision) -> bool:
        """Whether this revision replaces ``held``: other content, and a later revision."""
        return self.content_hash != held.content_hash and (
            (self.number, self.fetched_at) > (held.number, held.fetched_at)
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (``revision``, ``fetched_at``, ``content_hash``)."""
        return {
            "revision": self.number,
            "fetched_at": self.fetched_at.isoformat(),
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revision:
        """Inverse of :meth:`to_json` (read from a mapping that may hold other fields)."""
        return cls(
            int(data["revision"]), datetime.fromisoformat(data["fetched_at"]), data["content_hash"]
        )
