"""`newswire run` stopped and started again on the same data directory, as a user runs it:
its embedded broker keeps the topics, offsets and changelogs there, so the second run
goes on from the first one's decisions (issue #26)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import psutil
import pytest

from streams.stories.store import SQLiteStoryStore
from tests.conftest import PROJECT, SEEDS
from tests.e2e.test_e2e import SEED_IDS

FIRST, SECOND = ("000", "001", "003"), ("002", "004")


def _inputs(folder: Path, numbers: tuple[str, ...]) -> Path:
    """A folder with the seeds of ``numbers``."""
    folder.mkdir()
    for number in numbers:
        (path,) = SEEDS.glob(f"{number}_*.txt")
        shutil.copy(path, folder)
    return folder


def _env(data_dir: Path) -> dict[str, str]:
    """The environment of a user who sets only the data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env["NEWSWIRE_DATA_DIR"] = str(data_dir)
    return env


def _run_until_placed_then_stop(data_dir: Path, inputs: Path, stop: signal.Signals) -> None:
    """`newswire run --replay INPUTS` (following), stopped with ``stop`` to its process
    group once every input is printed as a member of a story; every process it started
    must be gone after."""
    wanted = {SEED_IDS[number] for number in FIRST}
    process = subprocess.Popen(
        [sys.executable, "-m", "newswire.cli", "run", "--replay", str(inputs)],
        cwd=PROJECT,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        placed: set[str] = set()
        for line in process.stdout:  # a story as it changes lists its members: "  - ID title"
            if line.startswith("  - "):
                placed.add(line.split()[1])
            if wanted <= placed:
                break
        assert wanted <= placed, f"the run ended before placing {sorted(wanted - placed)}"
        children = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, stop)
        code = process.wait(timeout=60)
        assert code == (0 if stop == signal.SIGINT else -signal.SIGKILL)
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"still running after the stop: {[p.cmdline() for p in alive]}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _run_once(
    data_dir: Path, out: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[dict[str, dict], dict[str, dict]]:
    """`newswire run --once ARGS` (in ``env``, else a user's who sets only the data
    directory): the stories and articles it wrote, by id."""
    stories, articles = out / "stories.jsonl", out / "articles.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswire.cli",
            "run",
            "--once",
            "--quiet",
            "--timeout",
            "300",
            "--stories-out",
            str(stories),
            "--articles-out",
            str(articles),
            *args,
        ],
        cwd=PROJECT,
        env=env or _env(data_dir),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return (
        {row["story_id"]: row for row in map(orjson.loads, stories.read_text().splitlines())},
        {row["id"]: row for row in map(orjson.loads, articles.read_text().splitlines())},
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["clean", "sigkill"])
def test_a_restarted_run_goes_on_from_the_decisions_before_it(
    tmp_path: Path, stop: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    _run_until_placed_then_stop(data_dir, _inputs(tmp_path / "first", FIRST), stop)

    out = tmp_path / "second-run"
    out.mkdir()
    stories, articles = _run_once(
        data_dir, out, "--replay", str(_inputs(tmp_path / "second", SECOND))
    )
    # The copy points at the original from before the restart, the follow-up joins its story.
    assert articles[SEED_IDS["002"]]["duplicate_of"] == SEED_IDS["000"]
    # (000 itself comes again only if the stop came before its offset was committed.)
    (story_id,) = [sid for sid, s in stories.items() if SEED_IDS["000"] in s["article_ids"]]
    assert articles[SEED_IDS["004"]]["story_id"] == story_id
    story = stories[story_id]
    assert sorted(story["article_ids"]) == sorted(SEED_IDS.values())
    assert story["duplicates"] == {SEED_IDS["002"]: SEED_IDS["000"]}
    # Every article once, in one story.
    for seed in SEED_IDS.values():
        assert sum(seed in s["article_ids"] for s in stories.values()) == 1
    for other in stories.values():
        assert len(other["article_ids"]) == len(set(other["article_ids"]))

    # A replay of all five, from the start of each file, adds nothing.
    again = tmp_path / "replay-run"
    again.mkdir()
    replayed, replayed_articles = _run_once(data_dir, again, "--from-start", "--replay", str(SEEDS))
    assert replayed == stories
    assert {seed: replayed_articles[seed]["story_id"] for seed in SEED_IDS.values()} == {
        seed: story_id for seed in SEED_IDS.values()
    }
    assert replayed_articles[SEED_IDS["002"]]["duplicate_of"] == SEED_IDS["000"]

    # The story database holds what the stories topic holds.
    with SQLiteStoryStore(data_dir / "stories.sqlite") as store:
        for kept in replayed.values():
            stored = store.get(kept["story_id"])
            assert stored is not None and stored.version == kept["version"]
