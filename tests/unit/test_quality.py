"""The code style gate: ruff and mypy clean over the whole project."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT

PACKAGES = ["agents", "newswire", "schemas", "streams", "tests"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=PROJECT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted() -> None:
    result = _run("ruff", "format", "--check", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = _run("mypy", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr
