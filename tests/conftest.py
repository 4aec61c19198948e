"""What every test shares: the project's root and its seed articles."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from faust.utils import json as faust_json

from tests.site import Site, serving

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds"


def written(value: Any) -> Any:
    """A table value as faust writes it to the changelog (its JSON), read back."""
    return orjson.loads(faust_json.dumps(value))


@pytest.fixture
def site() -> Iterator[Site]:
    """A news site on 127.0.0.1 (a random port)."""
    with serving() as served:
        yield served


def newswire(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``newswire`` command as a user does (in the project, with ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "newswire.cli", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
