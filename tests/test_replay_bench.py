"""A tiny run of the replay benchmark, so that it cannot rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from newswire.replay.bench import write_cc_news
from newswire.replay.inputs import Reader, ReplayCounts
from schemas.settings import Settings
from tests.conftest import PROJECT


def test_the_generated_archive_is_read_as_cc_news_is(tmp_path: Path) -> None:
    path = tmp_path / "cc.warc.gz"
    write_cc_news(path, 200)
    counts = ReplayCounts()
    messages = list(Reader(Settings(), counts, lambda _line: None).read([path]))
    assert counts.read == 200 and counts.skipped["warcinfo"] == 1
    assert len(messages) + counts.skipped.total() == 200
    assert {"redirect", "http_error", "not_html"} <= set(counts.skipped)


def test_a_tiny_replay_benchmark_runs(tmp_path: Path) -> None:
    report_path = tmp_path / "replay-bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "newswire.replay.bench", "--records", "60",
         "--json", str(report_path)],
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x warcio" in result.stdout
    report = orjson.loads(report_path.read_bytes())
    assert report["records"] == 60 and 0 < report["articles"] < 60
    for rate in ("warcio_records_per_s", "reader_records_per_s",
                 "reader_filtered_records_per_s", "read_and_publish_records_per_s"):
        assert report[rate] > 0
    assert report["reader_to_warcio_ratio"] > 0
    assert set(report["reader_peak_bytes"]) == {"60"} and report["reader_table_bytes"] > 0
