"""The embedded broker's helper processes: started, read and stopped."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from agents.runtime.processes import (
    BrokerStartError,
    free_port,
    last_stderr,
    start_listening,
    stop,
)

LOUD_HELPER = """
import socket, sys
from pathlib import Path
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
server.accept()
for n in range(20_000):  # 1.2 MB, far more than a pipe holds
    print(f"log line {n:05d} " + "x" * 44, file=sys.stderr)
print("last words", file=sys.stderr, flush=True)
Path(sys.argv[2]).touch()
server.accept()
"""


def test_a_helper_that_logs_much_is_never_blocked_by_its_stderr(tmp_path: Path) -> None:
    port, done = free_port(), tmp_path / "done"
    helper = start_listening(
        "loud helper", [sys.executable, "-c", LOUD_HELPER, str(port), str(done)], port, 10.0
    )
    try:
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.exists(), "the helper blocked writing to stderr"
        time.sleep(0.2)
        assert last_stderr(helper).splitlines()[-2:] == [
            "log line 19999 " + "x" * 44,
            "last words",
        ]
    finally:
        stop(helper)
    assert helper.returncode is not None


def test_a_helper_that_exits_at_start_is_reported_with_what_it_said() -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('bad flag --frobnicate')"]
    with pytest.raises(BrokerStartError, match="quitter exited at start: bad flag --frobnicate"):
        start_listening("quitter", command, free_port(), 10.0)
