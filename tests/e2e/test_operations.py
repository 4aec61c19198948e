"""End to end: what an operator sees and does: metrics, readiness, dead-letter re-drive."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.runtime.broker import free_port
from newswire.replay.inputs import Outbound, read_inputs
from schemas.settings import Settings
from tests.conftest import PROJECT, SEEDS
from tests.e2e.conftest import settings_env, watch_until
from tests.e2e.test_e2e import _other_event_message, _publish

STAGES = (
    "clean",
    "tag",
    "dedup-route",
    "dedup-shard",
    "dedup-decide",
    "story",
    "story-index",
    "story-place",
    "store",
)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _first_answer(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """The first answer of the worker's web server, polling until it is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return _get(port, path)
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"no answer on port {port} after {timeout} s")


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout} s")
        time.sleep(0.2)


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = _get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _by_stage(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[str, float]:
    return {
        dict(labels)["stage"]: value
        for (sample, labels), value in samples.items()
        if sample == name
    }


def test_metrics_count_each_stage_and_the_dead_letter_and_lag_falls_to_0(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    start_worker(web_port=port)
    status, body = _first_answer(port, "/health/ready")
    assert status == 503, body
    assert orjson.loads(body)["partitions_assigned"] is False
    assert _get(port, "/health/live")[0] == 200
    _wait_for(lambda: _get(port, "/health/ready")[0] == 200, "ready")

    seeds = read_inputs([SEEDS])
    _publish(pipeline_settings, [*seeds, Outbound("bad-json", b"{not json")])
    watch_until(
        pipeline_settings, lambda board: board.done_with([m.key for m in seeds] + ["bad-json"])
    )

    samples = _samples(port)
    records_in = _by_stage(samples, "newswire_records_in_total")
    records_out = _by_stage(samples, "newswire_records_out_total")
    assert records_in["clean"] == len(seeds) + 1
    assert records_out["clean"] == records_in["tag"] == len(seeds)
    assert all(records_in[stage] > 0 for stage in STAGES), records_in
    assert all(records_out[stage] > 0 for stage in STAGES if stage != "store"), records_out
    assert (
        samples[("newswire_dead_letters_total", (("reason", "invalid_json"), ("stage", "clean")))]
        == 1
    )
    timed = _by_stage(samples, "newswire_processing_seconds_count")
    assert {"clean", "tag", "dedup-shard", "dedup-decide", "story", "store"} <= set(timed)
    assert samples[("newswire_live_stories", ())] >= 1
    assert samples[("newswire_stage_processes_up", ())] == 1

    def lag_is_0() -> bool:
        lags = [
            value
            for (name, _), value in _samples(port).items()
            if name == "newswire_consumer_lag_records"
        ]
        return bool(lags) and not any(lags)

    _wait_for(lag_is_0, "at lag 0")


def _deadletter(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", "deadletter", *args],
        cwd=PROJECT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_dead_letter_sent_again_after_the_fix_is_in_its_story_once(
    pipeline_settings: Settings, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    refusing = start_worker(more_env={"NEWSWIRE_MAX_ARTICLE_BYTES": "500"})
    article = _other_event_message()
    _publish(pipeline_settings, [article])
    board = watch_until(pipeline_settings, lambda b: b.done_with([article.key]))
    assert [letter.error_type for letter in board.dead_letters] == ["too_large"]
    refusing.terminate()
    refusing.wait(timeout=20)

    listed = _deadletter(pipeline_settings, "--stage", "clean")
    assert listed.returncode == 0, listed.stderr
    assert f"clean  too_large  {article.key}" in listed.stdout
    assert "1 dead letters" in listed.stdout

    port = free_port()
    start_worker(web_port=port)
    for _ in range(2):  # the second time, every stage sees a repeat
        sent = _deadletter(pipeline_settings, "--resend", "--reason", "too_large")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == "sent 1 dead letters again"
    board = watch_until(
        pipeline_settings,
        lambda b: article.key in b.articles and bool(b.articles[article.key].story_id),
    )
    _wait_for(
        lambda: _by_stage(_samples(port), "newswire_records_in_total")["dedup-route"] == 2,
        "through dedup twice",
    )
    time.sleep(2)  # what the repeat would change downstream
    board = watch_until(pipeline_settings, lambda b: bool(b.stories))
    holding = [story for story in board.stories.values() if article.key in story.article_ids]
    assert len(holding) == 1
    assert holding[0].article_ids.count(article.key) == 1
    assert _by_stage(_samples(port), "newswire_records_in_total")["store"] == 1
