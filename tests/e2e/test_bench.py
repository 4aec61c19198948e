"""A tiny benchmark run end to end through the embedded broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import PROJECT


def test_a_tiny_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswire.cli",
            "bench",
            "--articles",
            "6",
            "--latency-articles",
            "3",
            "--json",
            str(report_path),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "end to end through the broker" in result.stdout
    report = orjson.loads(report_path.read_bytes())
    stages = report["stage_cpu_ms_per_article"]
    assert set(stages) == {"clean", "tag", "dedup", "story"}
    assert all(value > 0 for value in stages.values())
    e2e = report["end_to_end"]
    assert e2e["one_worker_articles_per_s"] > 0 and e2e["two_workers_articles_per_s"] > 0
    assert e2e["first_story_s"]["one_worker"] > 0 and e2e["first_story_s"]["two_workers"] > 0
    paid = e2e["stage_cpu_ms_per_article_as_the_two_worker_run_paid_it"]
    assert paid == pytest.approx(
        report["cpu_ms_per_article"]["two_workers"]["stage_processes"]
        + stages["dedup"]
        + stages["story"]
    )
    assert e2e["fraction_of_ideal_at_that_cost"] == pytest.approx(
        e2e["two_workers_articles_per_s"] * paid / 1000 / report["machine"]["cores_used"]
    )
    before, after = report["stage_cpu_ms_per_article_around_the_two_worker_run"]
    assert stages == pytest.approx({stage: (before[stage] + after[stage]) / 2 for stage in before})
    for cpu in report["cpu_ms_per_article"].values():
        assert cpu["workers"] > 0 and cpu["broker"] > 0
        assert all(
            0 < main < whole
            for main, whole in zip(cpu["per_worker_main_process"], cpu["per_worker"], strict=True)
        )
        # The meter found each worker's stage process: cleaning and NER ran there.
        assert 0 < cpu["stage_processes"] < cpu["workers"]
    busy = report["cores_busy_fraction"]
    assert len(busy["one_worker"]) == 1 and len(busy["two_workers"]) == 2
    assert all(0 < share <= 1 for shares in busy.values() for share in shares)
    records = report["kafka_records_per_article"]
    # Each article is written once to each of these topics (the stream has no bad input).
    assert [
        records["by_topic"][name]
        for name in ("articles.clean", "articles.tagged", "articles.deduped", "articles.enriched")
    ] == [1.0] * 4
    assert records["topics"] > 4 and records["changelogs"] > 0
    latency = report["latency_s"]
    assert latency["articles"] == 3 and 0 < latency["p50"] <= latency["p99"]
    assert report["memory"]["peak_rss_broker_mib"] > 0
    assert (
        report["memory"]["peak_rss_two_workers_mib"]
        > report["memory"]["peak_rss_one_worker_mib"]
        > 0
    )
