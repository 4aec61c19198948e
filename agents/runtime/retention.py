"""Retention for the embedded broker on disk, which Tansu does not enforce.

Tansu's S3 engine keeps each record batch of a partition as an object of its own
(``clusters/CLUSTER/topics/TOPIC/partitions/NNNNNNNNNN/records/BASEOFFSET.batch``) and
takes a partition's first offset from the objects present. The broker's owner sweeps
them now and then (:class:`RetentionSweeper`): for every topic created with
``cleanup.policy=delete`` it deletes the oldest whole batches that are past the topic's
``retention.ms`` or over its ``retention.bytes``, through the S3 server (deleting the
files under it would leave them in its directory cache). It never deletes a
partition's last batch, nor a batch with a record that a consumer group has committed
no offset past.

For every topic created with ``cleanup.policy=compact`` (``stories``, the tables'
changelogs) it compacts instead, a whole batch at a time: it deletes each batch, but the
last, whose every record is superseded (its key written again in a later batch), or is
the tombstone of a key no earlier batch holds, older than the topic's
``delete.retention.ms``. Tansu reads over the gaps as Kafka does over a compacted log
(a fetch at a deleted offset gets the next batch), and the Tansu profile writes one
record per changelog batch, so a changelog keeps about one record per live key.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import logging
import struct
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka.record.default_records import DefaultRecordBatch

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">qiiBIhiqq")
"""The start of a Kafka record batch (v2): base offset, length, leader epoch, magic,
CRC, attributes, last offset delta, first timestamp, max timestamp."""


@dataclass(frozen=True)
class Retention:
    """What a delete-policy topic keeps: records younger than ``ms``, and at most
    ``bytes`` a partition (None: no limit)."""

    ms: int | None
    bytes: int | None

    @classmethod
    def of(cls, config: Mapping[str, str]) -> Retention | None:
        """The retention a topic's configuration asks for; None for a topic that is not
        created with ``cleanup.policy=delete`` or sets no limit."""
        if config.get("cleanup.policy") != "delete":
            return None
        ms, size = (int(config.get(name, "-1")) for name in ("retention.ms", "retention.bytes"))
        if ms < 0 and size < 0:
            return None
        return cls(ms if ms >= 0 else None, size if size >= 0 else None)


DEFAULT_DELETE_RETENTION_MS = 24 * 3600 * 1000
"""How long a compacted topic keeps a tombstone, unless it sets ``delete.retention.ms``
(Kafka's default): a reader that saw the key's value before it went sees the delete."""


@dataclass(frozen=True)
class Compaction:
    """A compacted topic: its tombstones kept ``delete_retention_ms``."""

    delete_retention_ms: int

    @classmethod
    def of(cls, config: Mapping[str, str]) -> Compaction | None:
        """The compaction a topic's configuration asks for; None if not compacted."""
        if "compact" not in config.get("cleanup.policy", "").split(","):
            return None
        return cls(int(config.get("delete.retention.ms", DEFAULT_DELETE_RETENTION_MS)))


RecordKeys = tuple[tuple[bytes | None, bool], ...]
"""Each record of a batch: its key, and whether it is a tombstone (no value)."""


def record_keys(path: Path) -> RecordKeys:
    """The records of the batch object at ``path``, read with aiokafka's batch reader; one
    that cannot be read is kept (as one record with no key)."""
    try:
        batch = DefaultRecordBatch(path.read_bytes())
        return tuple((record.key, record.value is None) for record in batch)
    except Exception as error:
        log.warning("compaction keeps %s, which cannot be read: %r", path, error)
        return ((None, False),)


@dataclass(frozen=True)
class BatchFile:
    """One record batch object of a partition, as stored on disk."""

    path: Path
    base_offset: int
    size: int

    @functools.cached_property
    def _header(self) -> tuple[int, int]:
        with self.path.open("rb") as file:
            fields = _HEADER.unpack(file.read(_HEADER.size))
        last_offset_delta, max_timestamp = fields[6], fields[8]
        if max_timestamp < 0:  # no timestamps: the time it was written
            max_timestamp = round(self.path.stat().st_mtime * 1000)
        return self.base_offset + last_offset_delta, max_timestamp

    @property
    def last_offset(self) -> int:
        """The offset of its last record."""
        return self._header[0]

    @property
    def max_timestamp_ms(self) -> int:
        """The newest timestamp of its records, in ms since the epoch."""
        return self._header[1]


def expired(
    batches: Sequence[BatchFile], retention: Retention, now_ms: int, committed: int | None
) -> list[BatchFile]:
    """The oldest of a partition's ``batches`` that ``retention`` lets go at ``now_ms``:
    each older than ``retention.ms`` or beyond ``retention.bytes`` counting from the
    newest, up to the first that is neither; never the last batch, nor one holding an
    offset at or past ``committed`` (the lowest offset a consumer group committed)."""
    ordered = sorted(batches, key=lambda batch: batch.base_offset)
    held = sum(batch.size for batch in ordered)
    going = []
    for batch in ordered[:-1]:
        if committed is not None and batch.last_offset >= committed:
            break
        too_big = retention.bytes is not None and held > retention.bytes
        too_old = retention.ms is not None and batch.max_timestamp_ms < now_ms - retention.ms
        if not (too_big or too_old):
            break
        going.append(batch)
        held -= batch.size
    return going


def compacted(
    batches: Sequence[BatchFile],
    keys: Callable[[BatchFile], RecordKeys],
    compaction: Compaction,
    now_ms: int,
    committed: int | None,
) -> list[BatchFile]:
    """The batches of a compacted partition that hold nothing a reader still needs: each,
    but the last, whose every record (``keys`` of it) is superseded by a later batch, or
    is a tombstone older than ``compaction.delete_retention_ms`` of a key no earlier batch
    holds; none holding an offset at or past ``committed``."""
    ordered = sorted(batches, key=lambda batch: batch.base_offset)
    first: dict[bytes, int] = {}
    last: dict[bytes, int] = {}
    for index, batch in enumerate(ordered):
        for key, _ in keys(batch):
            if key is not None:
                first.setdefault(key, index)
                last[key] = index

    def needless(index: int, batch: BatchFile, key: bytes | None, tombstone: bool) -> bool:
        if key is None:
            return False
        if last[key] > index:
            return True
        old = batch.max_timestamp_ms < now_ms - compaction.delete_retention_ms
        return tombstone and first[key] == index and old

    return [
        batch
        for index, batch in enumerate(ordered[:-1])
        if (committed is None or batch.last_offset < committed)
        and all(needless(index, batch, key, tombstone) for key, tombstone in keys(batch))
    ]


@dataclass(frozen=True)
class ObjectStore:
    """The S3 server the broker keeps its data in, and its credentials."""

    endpoint: str
    key: str
    secret: str
    region: str = "auto"

    def delete(self, name: str) -> None:
        """Delete object ``name`` (``BUCKET/KEY``), by a request signed with AWS SigV4."""
        now = datetime.datetime.now(datetime.UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        path = urllib.parse.quote("/" + name)
        payload = hashlib.sha256(b"").hexdigest()
        headers = {
            "host": urllib.parse.urlsplit(self.endpoint).netloc,
            "x-amz-content-sha256": payload,
            "x-amz-date": stamp,
        }
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                "DELETE",
                path,
                "",
                "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                signed,
                payload,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signing_key = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        request = urllib.request.Request(self.endpoint + path, method="DELETE", headers=headers)
        with urllib.request.urlopen(request, timeout=10):
            pass


@dataclass(frozen=True)
class Swept:
    """What one sweep deleted."""

    batches: int = 0
    bytes: int = 0


def _partition_dirs(topic_dir: Path) -> Iterator[tuple[int, Path]]:
    for entry in sorted((topic_dir / "partitions").glob("*/records")):
        yield int(entry.parent.name), entry


def _batches(records_dir: Path) -> list[BatchFile]:
    return [
        BatchFile(path, int(path.stem), path.stat().st_size) for path in records_dir.glob("*.batch")
    ]


def committed_offsets(cluster_dir: Path) -> dict[tuple[str, int], int]:
    """The lowest offset any consumer group committed, by topic and partition."""
    lowest: dict[tuple[str, int], int] = {}
    for path in (cluster_dir / "groups" / "consumers").glob("*/offsets/*/partitions/*.json"):
        offset = orjson.loads(path.read_bytes())["offset"]
        where = (path.parent.parent.name, int(path.stem))
        if offset >= 0:
            lowest[where] = min(offset, lowest.get(where, offset))
    return lowest


def topic_policies(cluster_dir: Path) -> dict[str, Retention | Compaction]:
    """The topics of a cluster that have a retention or are compacted, by name."""
    meta = orjson.loads((cluster_dir / "meta.json").read_bytes())
    policies: dict[str, Retention | Compaction] = {}
    for name, topic in meta.get("topics", {}).items():
        config = {
            item["name"]: item["value"]
            for item in topic["topic"].get("configs") or []
            if item.get("value") is not None
        }
        if (policy := Retention.of(config) or Compaction.of(config)) is not None:
            policies[name] = policy
    return policies


class RetentionSweeper:
    """Enforces the delete-policy topics' retention and compacts the compacted topics on
    a broker's storage directory (the bucket's folder), every ``interval`` seconds in a
    thread of its own."""

    def __init__(
        self,
        bucket_dir: Path,
        store: ObjectStore,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket_dir, self.store, self.interval, self._clock = (
            bucket_dir,
            store,
            interval,
            clock,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._keys: dict[Path, RecordKeys] = {}

    def sweep(self) -> Swept:
        """Delete every batch past its topic's retention, or compacted away, now; return
        what went."""
        now_ms = round(self._clock() * 1000)
        batches = size = 0
        for cluster_dir in (self.bucket_dir / "clusters").glob("*"):
            if not (cluster_dir / "meta.json").exists():
                continue
            committed = committed_offsets(cluster_dir)
            for topic, policy in topic_policies(cluster_dir).items():
                for partition, records in _partition_dirs(cluster_dir / "topics" / topic):
                    stored, lowest = _batches(records), committed.get((topic, partition))
                    if isinstance(policy, Retention):
                        going = expired(stored, policy, now_ms, lowest)
                    else:
                        going = compacted(stored, self._record_keys, policy, now_ms, lowest)
                    for batch in going:
                        self.store.delete(batch.path.relative_to(self.bucket_dir.parent).as_posix())
                        self._keys.pop(batch.path, None)
                        batches, size = batches + 1, size + batch.size
        return Swept(batches, size)

    def _record_keys(self, batch: BatchFile) -> RecordKeys:
        """The records of ``batch``, read once (a batch object is never rewritten)."""
        if (keys := self._keys.get(batch.path)) is None:
            keys = self._keys[batch.path] = record_keys(batch.path)
        return keys

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                swept = self.sweep()
            except Exception:  # the next sweep tries again
                log.exception("retention sweep failed")
                continue
            if swept.batches:
                log.info("retention: deleted %d batches, %d bytes", swept.batches, swept.bytes)

    def start(self) -> None:
        """Sweep every ``interval`` seconds until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping (waits for a sweep under way)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
