"""What a stage's flow asks its agent to send."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.graph import TopicSpec


@dataclass(frozen=True)
class Outgoing:
    """A record to send to ``topic``, keyed by ``key``; on ``partition``, or by the key's
    hash if None."""

    topic: TopicSpec
    key: str
    value: bytes
    partition: int | None = None
