"""The embedded broker on disk enforces the topics' retention (Tansu does not): the
oldest whole batches go, through its S3 server, and consumers start at the new first
offset."""

from __future__ import annotations

import struct
from pathlib import Path

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from agents.runtime.retention import (
    DEFAULT_DELETE_RETENTION_MS,
    BatchFile,
    Compaction,
    Retention,
    compacted,
    expired,
    record_keys,
)

NOW_MS = 1_800_000_000_000


def batch_file(folder: Path, base: int, records: int, max_timestamp: int, size: int) -> BatchFile:
    """A batch object as Tansu writes it: a Kafka v2 record batch header, padded."""
    header = struct.pack(
        ">qiiBIhiqq", 0, size - 12, -1, 2, 0, 0, records - 1, max_timestamp - 5, max_timestamp
    )
    path = folder / f"{base:020d}.batch"
    path.write_bytes(header.ljust(size, b"\0"))
    return BatchFile(path, base, size)


def test_a_topic_has_a_retention_only_with_the_delete_policy_and_a_limit() -> None:
    assert Retention.of(
        {"cleanup.policy": "delete", "retention.ms": "2000", "retention.bytes": "-1"}
    ) == Retention(2000, None)
    assert Retention.of({"cleanup.policy": "delete", "retention.bytes": "500"}) == Retention(
        None, 500
    )
    assert Retention.of({"cleanup.policy": "compact", "retention.ms": "2000"}) is None
    assert Retention.of({"retention.ms": "2000"}) is None
    assert Retention.of({"cleanup.policy": "delete", "retention.ms": "-1"}) is None


def test_the_oldest_batches_past_the_retention_time_go_up_to_the_first_young_one(
    tmp_path: Path,
) -> None:
    old, young = NOW_MS - 10_000, NOW_MS - 1_000
    batches = [
        batch_file(tmp_path, 0, 3, old, 100),
        batch_file(tmp_path, 3, 2, old, 100),
        batch_file(tmp_path, 5, 1, young, 100),
        batch_file(tmp_path, 6, 1, old, 100),
        batch_file(tmp_path, 7, 1, young, 100),
    ]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 3]
    assert [batch.last_offset for batch in going] == [2, 4]


def test_the_last_batch_stays_however_old(tmp_path: Path) -> None:
    batches = [batch_file(tmp_path, base, 1, NOW_MS - 60_000, 100) for base in range(3)]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 1]


def test_a_partition_over_its_bytes_drops_its_oldest_batches_until_it_fits(
    tmp_path: Path,
) -> None:
    batches = [batch_file(tmp_path, base, 1, NOW_MS, 100) for base in range(6)]
    going = expired(batches, Retention(None, 250), NOW_MS, committed=None)
    assert [batch.base_offset for batch in going] == [0, 1, 2, 3]


def test_nothing_a_consumer_group_has_not_committed_past_goes(tmp_path: Path) -> None:
    batches = [
        batch_file(tmp_path, 0, 2, NOW_MS - 60_000, 100),
        batch_file(tmp_path, 2, 2, NOW_MS - 60_000, 100),
        batch_file(tmp_path, 4, 1, NOW_MS - 60_000, 100),
    ]
    going = expired(batches, Retention(5_000, None), NOW_MS, committed=3)
    assert [batch.base_offset for batch in going] == [0]


def record_batch(folder: Path, base: int, records: list[tuple[bytes, bytes | None]]) -> BatchFile:
    """A batch object of ``records`` (key, value; None for a tombstone), written by
    aiokafka's batch builder as a producer sends it."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    for delta, (key, value) in enumerate(records):
        builder.append(delta, timestamp=NOW_MS - 10_000, key=key, value=value, headers=[])
    path = folder / f"{base:020d}.batch"
    path.write_bytes(bytes(builder.build()))
    return BatchFile(path, base, path.stat().st_size)


def test_a_compacted_partition_loses_each_batch_whose_records_are_all_written_again(
    tmp_path: Path,
) -> None:
    batches = [
        record_batch(tmp_path, 0, [(b"a", b"1"), (b"b", b"1")]),
        record_batch(tmp_path, 2, [(b"a", b"2")]),  # b is still live in batch 0
        record_batch(tmp_path, 3, [(b"c", b"1")]),
        record_batch(tmp_path, 4, [(b"a", b"3"), (b"b", b"2")]),
        record_batch(tmp_path, 6, [(b"c", b"2")]),
    ]
    going = compacted(batches, lambda batch: record_keys(batch.path), Compaction(0), NOW_MS, None)
    assert [batch.base_offset for batch in going] == [0, 2, 3]
    # Nor past what a consumer group has committed.
    going = compacted(batches, lambda batch: record_keys(batch.path), Compaction(0), NOW_MS, 3)
    assert [batch.base_offset for batch in going] == [0, 2]


def test_a_tombstone_goes_once_alone_and_older_than_the_delete_retention(
    tmp_path: Path,
) -> None:
    def going(batches: list[BatchFile], delete_retention_ms: int) -> list[int]:
        kept = compacted(
            batches,
            lambda batch: record_keys(batch.path),
            Compaction(delete_retention_ms),
            NOW_MS,
            None,
        )
        return [batch.base_offset for batch in kept]

    value, tombstone, last = (
        record_batch(tmp_path, 0, [(b"a", b"1")]),
        record_batch(tmp_path, 1, [(b"a", None)]),
        record_batch(tmp_path, 2, [(b"z", b"1")]),
    )
    # While the value it deletes is there, the tombstone stays (and the value goes).
    assert going([value, tombstone, last], 0) == [0]
    assert going([tombstone, last], 60_000) == []  # written 10 s ago: kept a minute
    assert going([tombstone, last], 5_000) == [1]


def test_a_compacted_topic_is_told_by_its_cleanup_policy() -> None:
    assert Compaction.of({"cleanup.policy": "compact"}) == Compaction(DEFAULT_DELETE_RETENTION_MS)
    assert Compaction.of({"cleanup.policy": "compact", "delete.retention.ms": "5"}) == Compaction(5)
    assert Compaction.of({"cleanup.policy": "delete"}) is None
