"""Changelog-backed state of the stateful stages."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Protocol, TypeVar

import orjson
from faust.types import TableT


class ArrivalLog:
    """Per-article state of a stage in a faust table, replayed in arrival order.

    A stage keeps its index in memory and appends what it needs to rebuild it
    (one JSON entry per article) to this table, whose changelog topic survives
    a worker restart. Entries the stage has forgotten (retention) are deleted,
    so the table stays as bounded as the stage itself.

    The table's values are raw bytes: each ``{"seq", "entry"}`` as zlib-compressed
    JSON, a few KB held per article where the decoded form would take several
    times that. Plain JSON values (as earlier versions wrote) are read too.
    """

    def __init__(self, table: TableT[str, bytes]) -> None:
        self.table = table
        self._order: deque[str] = deque()
        self._next_seq = 0

    def append(self, article_id: str, entry: dict[str, Any]) -> None:
        """Record ``article_id``'s entry: a new article's last in arrival order; a known
        one's (an update) in place of its entry, where it was in that order."""
        held = self.held(article_id)
        if held is not None:
            self.table[article_id] = _encoded({"seq": held["seq"], "entry": entry})
            return
        self.table[article_id] = _encoded({"seq": self._next_seq, "entry": entry})
        self._order.append(article_id)
        self._next_seq += 1

    def held(self, article_id: str) -> dict[str, Any] | None:
        """The ``{"seq", "entry"}`` held for ``article_id``, or None."""
        value = self.table.get(article_id)
        return None if value is None else _decoded(value)

    def prune(self, keep: Callable[[str], bool]) -> None:
        """Delete the oldest entries for as long as the stage no longer ``keep``s them."""
        while self._order and not keep(self._order[0]):
            del self.table[self._order.popleft()]

    def recovered_entries(self) -> list[dict[str, Any]]:
        """Every entry in arrival order, after the table has been recovered."""
        items = sorted(
            ((article_id, _decoded(value)) for article_id, value in self.table.items()),
            key=lambda item: item[1]["seq"],
        )
        self._order = deque(article_id for article_id, _ in items)
        self._next_seq = items[-1][1]["seq"] + 1 if items else 0
        return [value["entry"] for _, value in items]


def _encoded(value: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(value), 1)


def _decoded(value: bytes) -> dict[str, Any]:
    """A value as held: zlib-compressed JSON, or plain JSON (``{`` first)."""
    decoded: dict[str, Any] = orjson.loads(value if value[:1] == b"{" else zlib.decompress(value))
    return decoded


class JSONable(Protocol):
    """A value held in a table as JSON."""

    def to_json(self) -> dict[str, Any]: ...


ValueT = TypeVar("ValueT", bound=JSONable)


class PartitionEntries(MutableMapping[str, ValueT]):
    """One partition's entries of a partitioned index table, decoded in memory.

    The table key is ``"partition/article id"`` (an article has an entry in each
    partition that holds one of its keys), so each partition's state can be told
    apart when it is rebuilt after a recovery. The partition's entries recovered as
    JSON are decoded once, when the mapping is created; then reads come from memory
    and writes go to both.

    A value faust can write itself (it has ``__json__``) is what the table holds,
    so it is held once: a recovered entry's decoded value takes the place of its
    JSON in the table's memory (no changelog write). Any other value is held
    decoded here and as its ``to_json()`` in the table.
    """

    def __init__(
        self,
        table: TableT[str, Any],
        partition: int,
        decode: Callable[[dict[str, Any]], ValueT],
    ) -> None:
        self.table = table
        self.prefix = f"{partition}/"
        self._decoded: dict[str, ValueT] = {}
        for key, value in list(table.items()):
            if not key.startswith(self.prefix):
                continue
            decoded = decode(value) if isinstance(value, dict) else value
            if isinstance(value, dict) and _writes_itself(decoded):
                table.data[key] = decoded
            self._decoded[key.removeprefix(self.prefix)] = decoded

    def __getitem__(self, article_id: str) -> ValueT:
        return self._decoded[article_id]

    def __setitem__(self, article_id: str, value: ValueT) -> None:
        self.table[self.prefix + article_id] = value if _writes_itself(value) else value.to_json()
        self._decoded[article_id] = value

    def __delitem__(self, article_id: str) -> None:
        del self._decoded[article_id]
        del self.table[self.prefix + article_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded)

    def __len__(self) -> int:
        return len(self._decoded)


def compact_recovered(table: TableT[str, Any], compact: Callable[[Any], Any]) -> None:
    """Replace each value of ``table`` by ``compact(value)`` in its memory only (no
    changelog write): values recovered as JSON take the form the stage holds."""
    for key, value in list(table.data.items()):
        table.data[key] = compact(value)


def _writes_itself(value: object) -> bool:
    """Whether faust writes ``value`` to a changelog as JSON itself (its ``__json__``)."""
    return hasattr(value, "__json__")
