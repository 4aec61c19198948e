"""The command line, run as a user runs it (subprocesses, a real broker)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter

import orjson
import pytest
import uvloop

from newswire.inputs import stable_id
from newswire.run import use_event_loop
from newswire.settings import Settings
from tests.conftest import PROJECT, SEEDS, settings_env

COMMANDS = ["run", "worker", "replay", "follow", "tail", "stories", "broker", "evaluate"]


def newswire(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "newswire.cli", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    result = newswire(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: newswire {command}" in result.stdout


def test_replay_then_tail_shows_each_seed_once(pipeline_settings: Settings) -> None:
    env = settings_env(pipeline_settings)
    for _ in range(2):  # a second replay publishes again, with the same ids
        replayed = newswire("replay", str(SEEDS), env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert "published 5 articles" in replayed.stdout
    tailed = newswire("tail", "raw", "--max", "10", env=env)
    assert tailed.returncode == 0, tailed.stderr
    ids = [orjson.loads(line)["id"] for line in tailed.stdout.splitlines()]
    expected = {stable_id(content=path.read_bytes()) for path in SEEDS.glob("*.txt")}
    assert Counter(ids) == dict.fromkeys(expected, 2)


def test_commands_needing_a_broker_say_so() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = newswire("tail", "stories", env=env)
    assert result.returncode != 0
    assert "no broker" in result.stderr


@pytest.mark.parametrize(("name", "loop_type"), [("uvloop", uvloop.Loop),
                                                 ("asyncio", asyncio.BaseEventLoop)])
def test_the_worker_runs_on_the_event_loop_of_its_settings(
    name: str, loop_type: type[asyncio.AbstractEventLoop]
) -> None:
    try:
        use_event_loop(name)
        loop = asyncio.get_event_loop()
        assert isinstance(loop, loop_type)
        thread_loop = asyncio.new_event_loop()  # as faust's consumer thread makes its own
        assert isinstance(thread_loop, loop_type)
        thread_loop.close()
        assert isinstance(loop, uvloop.Loop) == (name == "uvloop")
    finally:
        asyncio.get_event_loop().close()
        asyncio.set_event_loop_policy(None)
