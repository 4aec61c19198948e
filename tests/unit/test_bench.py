"""A tiny run of ``newswire bench``, so the benchmark cannot rot (no timing asserted)."""

from __future__ import annotations

from newswire.bench import build_stream, load_originals, warmup_stream
from tests.conftest import SEEDS


def test_stream_has_originals_copies_html_and_text() -> None:
    stream = build_stream(load_originals(SEEDS, None), size=10)
    assert len({raw.id for raw in stream}) == len(stream)
    assert any(raw.html for raw in stream) and any(raw.text for raw in stream)
    assert any("~" in raw.id for raw in stream)  # a generated copy, named after its source
    assert [raw.fetched_at for raw in stream] == sorted(raw.fetched_at for raw in stream)
    warmup = warmup_stream(stream)
    assert not {raw.id for raw in warmup} & {raw.id for raw in stream}
    assert any(raw.html for raw in warmup) and any(raw.text for raw in warmup)
