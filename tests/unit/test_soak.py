"""The soak benchmark's pieces, without a long run: progress read from a real story
database, memory read from a real process tree, and the figures its samples come to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import psutil

from newswire.soak import (
    ModeResult,
    Sample,
    condense,
    directory_bytes,
    format_table,
    memory_per_article,
    process_rss,
    story_progress,
    sustained_rate,
    write_articles,
)
from streams.stories.store import SQLiteStoryStore
from tests.unit.test_story_store import story

MIB = 1024 * 1024


def sample(seconds: float, placed: int, worker_mib: int, start: int = 0) -> Sample:
    return Sample(seconds, placed, worker_mib * MIB, 70 * MIB, 30 * MIB, 5 * MIB, start)


def test_progress_is_the_articles_placed_in_the_database(
    tmp_path: Path,
) -> None:
    database = tmp_path / "stories.sqlite"
    assert story_progress(database) == 0
    with SQLiteStoryStore(database) as store:
        store.upsert(story("s1", 1, "Harbour fire", "Ana Lopez", 0))
        two = story("s2", 3, "Bridge vote", "Ben Okafor", 1)
        store.upsert(two.model_copy(update={"article_ids": ["s2-a", "s2-b", "s2-c"]}))
    assert story_progress(database) == 4


def test_the_rss_of_a_process_tree_counts_its_children(tmp_path: Path) -> None:
    # A parent of its own (this test process may hold a test broker as its child) with
    # one child, both running Python once the parent prints.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'print(1, flush=True); "
            "import time; time.sleep(30)'], stdout=subprocess.PIPE); "
            "c.stdout.readline(); print('up', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"up\n"
        tree = psutil.Process(parent.pid)
        alone = tree.memory_info().rss
        rss = process_rss(tree)
        assert rss["worker"] > alone
        assert rss["broker"] == rss["rclone"] == 0
    finally:
        for process in psutil.Process(parent.pid).children():
            process.kill()
        parent.kill()
        parent.wait()


def test_generated_articles_are_written_one_a_line_and_counted_on_disk(tmp_path: Path) -> None:
    path = write_articles(tmp_path / "articles.jsonl", 5, seed=3)
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [row["id"] for row in rows] == [f"synthetic-3-{n:06d}" for n in range(5)]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more").write_bytes(b"x" * 100)
    assert directory_bytes(tmp_path) == path.stat().st_size + 100


def test_the_rate_and_the_memory_per_article_come_from_the_samples() -> None:
    samples = [sample(0, 0, 500), sample(10, 100, 520), sample(20, 300, 540), sample(30, 500, 560)]
    assert sustained_rate(samples) == 400 / 20
    assert memory_per_article(samples) == 40 * MIB / 400
    # Within a state window of 10 s from the first placed: the growth over 200 articles.
    assert memory_per_article(samples, window=10) == 20 * MIB / 200


def test_after_a_kill_the_memory_per_article_is_that_of_the_last_start() -> None:
    samples = [
        sample(0, 100, 500),
        sample(10, 300, 900),
        sample(20, 300, 400, start=1),
        sample(30, 400, 410, start=1),
        sample(40, 600, 430, start=1),
    ]
    # From the first article the restarted run placed itself (300 were placed before).
    assert memory_per_article(samples) == 20 * MIB / 200
    assert memory_per_article(samples[:4]) is None


def test_a_long_series_is_condensed_to_its_first_last_and_evenly_spaced_samples() -> None:
    samples = [sample(n, n, 500) for n in range(100)]
    assert [s.seconds for s in condense(samples, rows=4)] == [0, 33, 66, 99]
    assert condense(samples[:3], rows=4) == samples[:3]


def test_the_table_puts_the_modes_side_by_side() -> None:
    disk = ModeResult("disk", [sample(0, 0, 500), sample(10, 200, 510)], 20.0, 10 * MIB / 200, 7.5)
    memory = ModeResult(
        "memory", [sample(0, 0, 500), sample(10, 200, 505)], 25.0, 5 * MIB / 200, None
    )
    table = format_table([disk, memory]).splitlines()
    assert table[0] == "| | disk | memory |"
    assert "| sustained rate (articles/s) | 20.0 | 25.0 |" in table
    assert "| worker memory per article placed | 51.2 KB | 25.6 KB |" in table
    assert "| recovery after SIGKILL | 7.5 s | — |" in table
    assert "| 10 | 200 | 510 | 70 | 30 | 5.0 |" in table
