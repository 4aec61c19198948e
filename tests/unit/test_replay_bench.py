"""A tiny run of the replay benchmark, so that it cannot rot (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from newswire.replay.bench import write_cc_news
from newswire.replay.inputs import Reader, ReplayCounts
from schemas.settings import Settings


def test_the_generated_archive_is_read_as_cc_news_is(tmp_path: Path) -> None:
    path = tmp_path / "cc.warc.gz"
    write_cc_news(path, 200)
    counts = ReplayCounts()
    messages = list(Reader(Settings(), counts, lambda _line: None).read([path]))
    assert counts.read == 200 and counts.skipped["warcinfo"] == 1
    assert len(messages) + counts.skipped.total() == 200
    assert {"redirect", "http_error", "not_html"} <= set(counts.skipped)
