"""Fixtures over a real Kafka-protocol broker (Tansu) and newswire workers; every test in this
folder is marked ``e2e``, so that ``pytest -m "not e2e"`` starts no broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agents.runtime.broker import EmbeddedBroker, ensure_topics_sync
from newswire.watch import StoryBoard, consume
from schemas.graph import DEAD_LETTERS, ENRICHED, STORIES
from schemas.settings import Settings, env_variable
from tests.conftest import PROJECT

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``e2e``."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A Tansu broker for the whole test session (memory only)."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def pipeline_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings for one test: its own topics and consumer group on the shared broker."""
    return own_settings(broker, tmp_path, "t", dedup_partitions=2, story_index_partitions=2)


def own_settings(
    broker: EmbeddedBroker,
    tmp_path: Path,
    prefix: str,
    *,
    dedup_partitions: int,
    story_index_partitions: int,
) -> Settings:
    """A test's own topics (created) and consumer group on ``broker``, 2 raw partitions
    and the given index partitioning."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    settings = Settings(
        broker_url=broker.url,
        app_id=name,
        topic_prefix=name,
        partitions=2,
        data_dir=tmp_path / "data",
        broker_profile="tansu",
        dedup_partitions=dedup_partitions,
        story_index_partitions=story_index_partitions,
    )
    ensure_topics_sync(settings)
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that gives a subprocess these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    for field in (
        "broker_url",
        "app_id",
        "topic_prefix",
        "partitions",
        "dedup_partitions",
        "story_index_partitions",
        "data_dir",
        "broker_profile",
    ):
        env[env_variable(field)] = str(getattr(settings, field))
    return env


@pytest.fixture
def start_worker(
    pipeline_settings: Settings,
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``newswire worker`` processes on the test's settings (and, if given, faust's
    web views on ``web_port``, and more settings as ``NEWSWIRE_`` variables in
    ``more_env``); stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        web_port: int | None = None, more_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = settings_env(pipeline_settings) | (more_env or {})
        if web_port is not None:
            env["NEWSWIRE_WEB_PORT"] = str(web_port)
        process = subprocess.Popen(
            [sys.executable, "-m", "newswire.cli", "worker"],
            cwd=PROJECT,
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def watch_until(
    settings: Settings, done: Callable[[StoryBoard], bool], timeout: float = 180.0
) -> StoryBoard:
    """Read the output topics into a StoryBoard until ``done(board)``; fail after ``timeout``."""
    board = StoryBoard()
    outputs = [topic.name(settings.topic_prefix) for topic in (STORIES, ENRICHED, DEAD_LETTERS)]

    async def watch() -> None:
        async for topic, _key, value in consume(settings, outputs):
            board.apply(settings, topic, value)
            if done(board):
                return

    try:
        asyncio.run(asyncio.wait_for(watch(), timeout))
    except TimeoutError:
        pytest.fail(
            f"pipeline output not complete after {timeout} s: {len(board.articles)} "
            f"articles, {len(board.stories)} stories, "
            f"{len(board.dead_letters)} dead letters"
        )
    return board
