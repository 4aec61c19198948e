"""Reading archives into raw-article messages, and publishing them.

Supported inputs: ``.txt`` (one article), ``.html``/``.htm`` (one page),
``.json`` (one raw article, or a list of them), ``.jsonl`` (one raw article a
line), any of those compressed as ``.gz``, and directories of them.

Ids are stable so that replaying the same input twice adds nothing new
downstream: a record's own ``id``; else a hash of its URL; else a hash of its
content. A JSON line that cannot be read is still published, as it is, so the
cleaning stage dead-letters it with the reason: nothing is lost silently.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from newswire.broker import bootstrap_servers
from newswire.settings import Settings
from schemas.records import RawArticle
from schemas.topics import RAW
from streams.cleaning import decode_html
from streams.text import content_hash

ARTICLE_SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl")


@dataclass(frozen=True)
class Outbound:
    """One message for the raw topic: the article id as key, the JSON value."""

    key: str
    value: bytes

    @classmethod
    def of(cls, article: RawArticle) -> Outbound:
        """The message of a raw article: keyed by its id."""
        return cls(article.id, article.to_json())


def stable_id(*, url: str | None = None, content: bytes | str = b"") -> str:
    """Id of an article: hash of its URL if it has one, else of its content."""
    return content_hash(f"url:{url}" if url else content)


def raw_from_record(record: dict[str, Any], *, source: str | None = None) -> RawArticle:
    """A RawArticle from a JSON object, filling in a stable id and fetch time."""
    content = record.get("html") or record.get("text") or ""
    fields = {
        "id": record.get("id") or stable_id(url=record.get("url"), content=content),
        "source": source,
        "fetched_at": datetime.now(UTC),
        **{key: value for key, value in record.items() if value is not None},
    }
    return RawArticle.model_validate(fields)


def read_path(path: Path) -> Iterator[Outbound]:
    """Messages for every article in ``path`` (a file or a directory)."""
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and _article_suffix(child):
                yield from read_path(child)
        return
    suffix = _article_suffix(path)
    if suffix is None:
        raise ValueError(f"{path}: not an article file (expected {', '.join(ARTICLE_SUFFIXES)}"
                         " or .gz of those)")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    source = f"file:{path.name}"
    if suffix == ".txt":
        text = data.decode("utf-8", errors="replace")
        article = RawArticle(
            id=stable_id(content=data), source=source, text=text, fetched_at=datetime.now(UTC)
        )
        yield Outbound.of(article)
    elif suffix in (".html", ".htm"):
        article = RawArticle(
            id=stable_id(content=data), source=source, html=decode_html(data),
            fetched_at=datetime.now(UTC),
        )
        yield Outbound.of(article)
    elif suffix == ".json":
        parsed = orjson.loads(data)
        for record in parsed if isinstance(parsed, list) else [parsed]:
            yield _outbound_record(record, source, f"{path}")
    else:
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield _outbound_line(line, source, f"{path}:{number}")


def read_inputs(paths: Iterable[Path]) -> list[Outbound]:
    """Messages for all ``paths``, in order, each article once (by id)."""
    unique: dict[str, Outbound] = {}
    for path in paths:
        for message in read_path(path):
            unique.setdefault(message.key, message)
    return list(unique.values())


def _article_suffix(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    return next((suffix for suffix in ARTICLE_SUFFIXES if name.endswith(suffix)), None)


def _outbound_line(line: bytes, source: str, where: str) -> Outbound:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Outbound(where, line)  # dead-lettered downstream, with the reason
    return _outbound_record(record, source, where)


def _outbound_record(record: Any, source: str, where: str) -> Outbound:
    try:
        article = raw_from_record(record, source=source)
    except (ValueError, TypeError):
        return Outbound(where, orjson.dumps(record))  # dead-lettered downstream
    return Outbound.of(article)


class RawPublisher:
    """A producer for the raw topic; use as ``async with RawPublisher(settings) as p``.

    Articles are dealt to the partitions in turn, starting at a random one, rather
    than placed by a hash of their key: raw articles need no order, and cleaning and
    NER, the heaviest stages, then get the same number of articles on every
    partition (a hash leaves a few hundred articles several percent apart). The key
    stays the article id, for consumers.
    """

    def __init__(self, settings: Settings) -> None:
        assert settings.broker_url, "publishing needs a broker URL"
        self.topic = RAW.name(settings.topic_prefix)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(settings.broker_url),
            max_request_size=settings.max_record_bytes,
        )
        self._partitions: list[int] = []
        self._sent = 0

    async def __aenter__(self) -> RawPublisher:
        await self._producer.start()
        self._partitions = sorted(await self._producer.partitions_for(self.topic))
        self._sent = random.randrange(len(self._partitions))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._producer.stop()

    async def send(self, messages: Iterable[Outbound]) -> int:
        """Send ``messages`` and wait until the broker has them all; return how many."""
        deliveries = [
            await self._producer.send(self.topic, key=message.key.encode(), value=message.value,
                                      partition=self._next_partition())
            for message in messages
        ]
        for delivery in deliveries:
            await delivery
        return len(deliveries)

    def _next_partition(self) -> int:
        self._sent += 1
        return self._partitions[self._sent % len(self._partitions)]


async def publish(settings: Settings, messages: Iterable[Outbound]) -> int:
    """Send ``messages`` to the raw topic; return how many were sent."""
    async with RawPublisher(settings) as publisher:
        return await publisher.send(messages)
