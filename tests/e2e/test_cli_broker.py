"""`newswire broker` and `newswire worker --broker` as a user runs them: two processes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.runtime.broker import free_port
from tests.conftest import PROJECT


class Command:
    """A running ``newswire`` command whose stderr (or stdout) lines are collected."""

    def __init__(self, *args: str, env: dict[str, str], stream: str = "stderr") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "newswire.cli", *args],
            cwd=PROJECT,
            env=env,
            text=True,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        source = self.process.stdout if stream == "stdout" else self.process.stderr
        threading.Thread(target=self._read, args=(source,), daemon=True).start()

    def _read(self, source: object) -> None:
        for line in source:  # type: ignore[attr-defined]
            self.lines.append(line)
            self._new.put(line)

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        """The first line (from now on) containing ``text``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return line
        pytest.fail(f"no line with {text!r} in {timeout} s: {''.join(self.lines)[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: no NEWSWIRE_BROKER_PROFILE, a data dir of the test's own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return {**clean, "NEWSWIRE_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in reversed(started):  # workers first, the broker last
        command.stop()


def start_broker(port: int, env: dict[str, str], commands: list[Command]) -> Command:
    broker = Command("broker", "--port", str(port), env=env, stream="stdout")
    commands.append(broker)
    broker.wait_for(f"embedded broker at kafka://127.0.0.1:{port}")
    return broker


def test_a_worker_on_newswire_broker_uses_the_tansu_profile_and_its_port_stays_its_own(
    env: dict[str, str], commands: list[Command]
) -> None:
    port = free_port()
    start_broker(port, env, commands)
    worker = Command("worker", "--broker", f"kafka://127.0.0.1:{port}", env=env)
    commands.append(worker)
    assert "broker profile tansu" in worker.wait_for("newswire: worker on")

    second = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "broker", "--port", str(port)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1, second
    assert f"port {port}" in second.stderr and "Traceback" not in second.stderr
    assert len(second.stderr.splitlines()) == 1, second.stderr
    assert "embedded broker at" not in second.stdout


def test_an_explicit_profile_setting_wins_over_detection(
    env: dict[str, str], commands: list[Command]
) -> None:
    port = free_port()
    start_broker(port, env, commands)
    worker = Command(
        "worker",
        "--broker",
        f"kafka://127.0.0.1:{port}",
        env={**env, "NEWSWIRE_BROKER_PROFILE": "kafka"},
    )
    commands.append(worker)
    assert "broker profile kafka" in worker.wait_for("newswire: worker on")


def test_a_lost_broker_is_one_line_and_so_is_its_return(
    env: dict[str, str], commands: list[Command]
) -> None:
    port = free_port()
    broker = start_broker(port, env, commands)
    worker = Command("worker", "--broker", f"kafka://127.0.0.1:{port}", env=env)
    commands.append(worker)
    worker.wait_for("newswire: worker on")
    time.sleep(15)  # the worker has joined its group and is fetching
    broker.stop()
    worker.wait_for("lost the Kafka broker")
    before = len(worker.lines)
    time.sleep(20)  # aiokafka retries every 100 ms meanwhile
    assert worker.lines[before:] == []
    start_broker(port, env, commands)
    assert "is back" in worker.wait_for("the Kafka broker")
    assert worker.process.poll() is None
