"""The one exception a stage raises for an input it refuses."""

from __future__ import annotations


class Rejected(Exception):
    """An input a stage cannot process; it goes to the dead-letter topic.

    ``code`` is short and stable (``empty``, ``too_large``, ``undecodable``...),
    ``reason`` says in words what was wrong with this input.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
