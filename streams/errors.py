"""The one exception a stage raises for an input it refuses, and how errors are described."""

from __future__ import annotations

import orjson
from pydantic import ValidationError


class Rejected(Exception):
    """An input a stage cannot process; it goes to the dead-letter topic.

    ``code`` is short and stable (``empty``, ``too_large``, ``undecodable``...),
    ``reason`` says in words what was wrong with this input.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[Rejected], tuple[str, str]]:
        # Picklable as (code, reason), so it can come back from a stage process.
        return Rejected, (self.code, self.reason)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(error type, reason) of an exception, as a dead letter records them."""
    if isinstance(exc, Rejected):
        return exc.code, exc.reason
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        return "invalid_record", f"not a valid {exc.title}: {problems}"
    if isinstance(exc, orjson.JSONDecodeError):
        return "invalid_json", f"value is not JSON: {exc}"
    return type(exc).__name__, str(exc) or repr(exc)
