"""A tiny replay benchmark, through the embedded broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import PROJECT


def test_a_tiny_replay_benchmark_runs(tmp_path: Path) -> None:
    report_path = tmp_path / "replay-bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswire.replay.bench",
            "--records",
            "60",
            "--json",
            str(report_path),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x warcio" in result.stdout
    report = orjson.loads(report_path.read_bytes())
    assert report["records"] == 60 and 0 < report["articles"] < 60
    for rate in (
        "warcio_records_per_s",
        "reader_records_per_s",
        "reader_filtered_records_per_s",
        "read_and_publish_records_per_s",
    ):
        assert report[rate] > 0
    assert report["reader_to_warcio_ratio"] > 0
    assert set(report["reader_peak_bytes"]) == set(report["reader_table_bytes"]) == {"60"}
    assert 0 < report["reader_table_bytes"]["60"] < report["reader_peak_bytes"]["60"]
