"""The embedded broker's storage: on disk it keeps topics, records and committed offsets
across a restart; one data directory serves one broker; the broker dies with newswire."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.runtime.broker import BrokerStartError, EmbeddedBroker, bootstrap_servers
from tests.conftest import PROJECT

TOPIC, GROUP = "kept", "readers"
PARTITION = TopicPartition(TOPIC, 0)


async def write_and_commit(url: str) -> None:
    """Create the topic, write three records, and commit offset 2 for the group."""
    servers = bootstrap_servers(url)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for value in (b"a", b"b", b"c"):
            await producer.send_and_wait(TOPIC, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([PARTITION])
        await consumer.commit({PARTITION: 2})
    finally:
        await consumer.stop()


async def read_back(url: str) -> tuple[list[str], int | None, list[bytes]]:
    """The topics, the group's committed offset, and the records from the first."""
    servers = bootstrap_servers(url)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    if TOPIC not in topics:
        return topics, None, []
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([PARTITION])
        committed = await consumer.committed(PARTITION)
        consumer.seek(PARTITION, 0)
        batches = await consumer.getmany(PARTITION, timeout_ms=5000)
        return topics, committed, [record.value or b"" for record in batches.get(PARTITION, [])]
    finally:
        await consumer.stop()


def test_a_broker_on_disk_keeps_topics_records_and_offsets_across_a_restart(
    tmp_path: Path,
) -> None:
    with EmbeddedBroker(storage_dir=tmp_path / "broker") as broker:
        asyncio.run(write_and_commit(broker.url))
    with EmbeddedBroker(storage_dir=tmp_path / "broker") as broker:
        topics, committed, values = asyncio.run(read_back(broker.url))
    assert TOPIC in topics
    assert committed == 2
    assert values == [b"a", b"b", b"c"]


def test_a_broker_in_memory_forgets_on_a_restart() -> None:
    with EmbeddedBroker() as broker:
        asyncio.run(write_and_commit(broker.url))
    with EmbeddedBroker() as broker:
        topics, _committed, _values = asyncio.run(read_back(broker.url))
    assert TOPIC not in topics


def test_one_data_directory_serves_one_broker(tmp_path: Path) -> None:
    with (
        EmbeddedBroker(storage_dir=tmp_path / "broker"),
        pytest.raises(BrokerStartError, match="another newswire broker is running"),
    ):
        EmbeddedBroker(storage_dir=tmp_path / "broker").start()


STARTER = """
import sys, time
from pathlib import Path
from agents.runtime.broker import EmbeddedBroker
broker = EmbeddedBroker(storage_dir=Path(sys.argv[1]))
broker.start()
print("started", flush=True)
time.sleep(600)
"""


def test_the_broker_and_its_object_store_die_with_the_process_that_started_them(
    tmp_path: Path,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path / "broker")],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline() == "started\n"
        helpers = psutil.Process(owner.pid).children()
        assert {helper.name().split("-")[0] for helper in helpers} == {"tansu", "rclone"}
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        _gone, alive = psutil.wait_procs(helpers, timeout=10)
        assert not alive
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    # Its data directory is free again.
    with EmbeddedBroker(storage_dir=tmp_path / "broker"):
        pass
