"""The processes of the embedded broker (Tansu, and the object store it keeps its data in)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class BrokerStartError(RuntimeError):
    """A helper process could not start (its port is taken, or it exited)."""


def check_port_free(port: int) -> None:
    """Raise :class:`BrokerStartError` if ``port`` on 127.0.0.1 cannot be listened on."""
    with socket.socket() as sock:
        # As a listening server binds: a port held only by closed connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            message = f"port {port} on 127.0.0.1 is not free: {error.strerror}"
            raise BrokerStartError(message) from error


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the parent dies (even by ``kill -9``).

    The parent is the thread that started the child: newswire starts its helpers from
    its main thread, which ends only with the process.
    """
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


STDERR_LINES_KEPT = 50
"""How many of a helper's last stderr lines :class:`StderrTail` keeps."""


class StderrTail(threading.Thread):
    """Reads a helper's stderr as it runs, keeping its last lines, so that a helper that
    logs much never blocks on a full pipe."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="stderr-tail", daemon=True)
        self._stream = stream
        self.lines: deque[str] = deque(maxlen=STDERR_LINES_KEPT)

    def run(self) -> None:
        """Read lines until the helper closes its stderr."""
        for line in self._stream:
            self.lines.append(line.decode(errors="replace").rstrip())


_tails: dict[int, StderrTail] = {}
"""The stderr reader of each running helper, by process id."""


def last_stderr(process: subprocess.Popen[bytes]) -> str:
    """The last lines a running (or stopped) helper wrote on stderr."""
    tail = _tails.get(process.pid)
    if tail is None:
        return ""
    if process.poll() is not None:
        tail.join(timeout=1.0)  # what it wrote before it exited
    return "\n".join(tail.lines)


def start_listening(
    name: str,
    command: Sequence[str],
    port: int,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait until it accepts connections on ``port``; it runs in
    a session of its own (a Ctrl-C at the terminal reaches newswire only, which stops
    it in order) and dies with newswire.

    Raises :class:`BrokerStartError` (with what it wrote on stderr) if it exits or does not
    answer within ``timeout`` seconds.
    """
    # A server exits when its port is taken, but something else then answers there.
    check_port_free(port)
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise BrokerStartError(f"{name} exited at start: {stderr.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            time.sleep(0.02)
        else:
            assert process.stderr is not None
            _tails[process.pid] = StderrTail(process.stderr)
            _tails[process.pid].start()
            return process
    stop(process)
    raise BrokerStartError(f"{name} did not answer on port {port}")


def stop(process: subprocess.Popen[bytes] | None, grace: float = 0.0) -> None:
    """Stop ``process``: SIGTERM and ``grace`` seconds to exit, else (or with no grace)
    SIGKILL; then release its stderr pipe once its last lines are read."""
    if process is None:
        return
    if process.poll() is None and grace > 0:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
        process.wait()
    tail = _tails.pop(process.pid, None)
    if tail is not None:
        tail.join(timeout=1.0)
    if process.stderr:
        process.stderr.close()
