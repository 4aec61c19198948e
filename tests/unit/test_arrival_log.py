"""The story stage's arrival log: entries held compressed, replayed in arrival order."""

from __future__ import annotations

from typing import Any, cast

import orjson
from faust.types import TableT

from agents.runtime.state import ArrivalLog


def entry(article_id: str, revision: int = 1) -> dict[str, Any]:
    return {"article": {"id": article_id, "revision": revision}, "features": {"lead": "x" * 500}}


def test_entries_replay_in_arrival_order_and_an_update_keeps_its_place() -> None:
    table: dict[str, bytes] = {}
    log = ArrivalLog(cast(TableT[str, bytes], table))
    for article_id in ("b", "a", "c"):
        log.append(article_id, entry(article_id))
    log.append("b", entry("b", revision=2))

    assert [e["article"]["id"] for e in log.recovered_entries()] == ["b", "a", "c"]
    assert log.recovered_entries()[0]["article"]["revision"] == 2
    assert log.held("b") == {"seq": 0, "entry": entry("b", revision=2)}
    assert log.held("z") is None
    plain = orjson.dumps({"seq": 1, "entry": entry("a")})
    assert all(len(value) < len(plain) / 3 for value in table.values())  # held compressed


def test_plain_json_values_of_earlier_versions_are_read() -> None:
    table = {
        "old": orjson.dumps({"seq": 0, "entry": entry("old")}),
        "older": orjson.dumps({"seq": 1, "entry": entry("older")}),
    }
    log = ArrivalLog(cast(TableT[str, bytes], table))
    log.recovered_entries()
    log.append("new", entry("new"))

    assert [e["article"]["id"] for e in log.recovered_entries()] == ["old", "older", "new"]
    assert log.held("new") == {"seq": 2, "entry": entry("new")}
