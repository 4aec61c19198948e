"""The processes of the embedded broker (Tansu, and the object store it keeps its data in)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

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
                return process
        except OSError:
            time.sleep(0.02)
    stop(process)
    raise BrokerStartError(f"{name} did not answer on port {port}")


def stop(process: subprocess.Popen[bytes] | None, grace: float = 0.0) -> None:
    """Stop ``process``: SIGTERM and ``grace`` seconds to exit, else (or with no grace)
    SIGKILL; then release its stderr pipe."""
    if process is None:
        return
    if process.poll() is None and grace > 0:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()
