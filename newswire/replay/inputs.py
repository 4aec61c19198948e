"""Reading archives into raw-article messages, and publishing them.

Supported inputs: ``.txt`` (one article), ``.html``/``.htm`` (one page),
``.json`` (one raw article, or a list of them), ``.jsonl`` (one raw article a
line), ``.warc`` (the HTML pages of a web archive, see :mod:`newswire.replay.warc`), any
of those compressed as ``.gz``, directories of them, globs, and ``-`` for
standard input (WARC or JSON lines, compressed or not). Every input is read as a
stream, record by record (a ``.json`` list element by element, see
:mod:`newswire.replay.json`), in constant memory, and published as it is read; a
one-article file (``.txt``, ``.html``, a ``.json`` that is not a list) over
``Settings.max_article_bytes`` is refused without being read whole.

A :class:`~newswire.replay.filter.Selection` and a limit choose what is
published; what is left out, and the WARC records that are not pages, are
counted by reason (``ReplayCounts.skipped``), not dead-lettered. With
checkpoints, each file is read from where the last replay of it stopped.

Ids are stable so that replaying the same input twice adds nothing new
downstream: a record's own ``id``; else a hash of its URL; else a hash of its
content. The same content again under a known id is a repeat, skipped; new
content under a known id (an updated page at the same URL) is published as the
article's next revision.

What cannot be read is refused here, not published: a record that is not a
JSON object, not a valid article (the reason names the field), or over
``Settings.max_article_bytes``; and the damaged part of a file (a truncated or
corrupt gzip stream, a malformed JSON document, a binary page). Each refusal
becomes a dead letter of stage ``replay`` with its location (``PATH:LINE`` or
``PATH@OFFSET``, ``PATH#/N`` for the N-th article of a JSON list), each
damaged file is reported in one line, and reading goes on. Invalid JSON is
refused by the reader rather than by the cleaning stage because only the
reader knows the file and line it came from.
"""

from __future__ import annotations

import asyncio
import glob
import gzip
import io
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from agents.runtime.broker import bootstrap_servers
from newswire.replay.filter import Selection
from newswire.replay.json import JsonDamage, JsonText, list_items
from newswire.replay.seen import SeenContent
from newswire.replay.state import FilePosition, ReplayCheckpoints
from newswire.replay.warc import WarcDamage, WarcPage, read_warc
from schemas.graph import DEAD_LETTERS, RAW
from schemas.records import DeadLetter, RawArticle
from schemas.settings import Settings
from streams.clean.extract import decode_html, page_charset, url_host
from streams.errors import Rejected, describe_error
from streams.text import content_hash

ARTICLE_SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl", ".warc")
STDIN = Path("-")
"""The input path that names standard input."""
SEND_BATCH = 500
SEND_BATCH_BYTES = 16_000_000
"""Messages (and bytes of them) sent before waiting for the broker to have them all."""
_READ_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


@dataclass(frozen=True)
class Outbound:
    """One message for the raw topic: the article id as key, the JSON value.

    ``location`` (where the reader found it) goes into the dead letter if the
    broker refuses the message; ``position`` is how far its file is read with it,
    for the replay's checkpoint.
    """

    key: str
    value: bytes
    revision: int = 1
    location: str | None = None
    position: FilePosition | None = None

    @classmethod
    def of(cls, article: RawArticle, location: str | None = None) -> Outbound:
        """The message of a raw article: keyed by its id."""
        return cls(article.id, article.to_json(), article.revision, location)


@dataclass(frozen=True)
class Refused:
    """A record, or the damaged part of a file, that the reader could not publish."""

    value: bytes
    location: str | None
    error_type: str
    reason: str
    article_id: str | None = None
    position: FilePosition | None = None

    def dead_letter(self, max_payload_bytes: int) -> DeadLetter:
        """The dead letter (stage ``replay``) of this refusal."""
        return DeadLetter.of(
            self.value,
            max_payload_bytes=max_payload_bytes,
            stage="replay",
            reason=self.reason,
            error_type=self.error_type,
            location=self.location,
            article_id=self.article_id,
            failed_at=datetime.now(UTC),
        )


Message = Outbound | Refused | FilePosition
"""What the reader gives: an article, a refusal, or (with checkpoints) a file read to
its end, to be checkpointed once the broker has everything before it."""


@dataclass
class ReplayCounts:
    """What a replay did: records read, articles published (revisions among them),
    records dead-lettered by reason, repeats skipped, other records skipped by reason."""

    read: int = 0
    published: int = 0
    revisions: int = 0
    repeats: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """The counts in one line."""
        skipped = "".join(f", {count} {reason}" for reason, count in sorted(self.skipped.items()))
        return (
            f"newswire: published {self.published} articles ({self.revisions} revisions), "
            f"dead-lettered {self.dead_lettered.total()}{_by_reason(self.dead_lettered)}, "
            f"skipped {self.repeats} repeats{skipped}"
        )


def _by_reason(counts: Counter[str]) -> str:
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
    return f" ({reasons})" if reasons else ""


def stable_id(*, url: str | None = None, content: bytes | str = b"") -> str:
    """Id of an article: hash of its URL if it has one, else of its content."""
    return content_hash(f"url:{url}" if url else content)


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def input_files(paths: Iterable[Path]) -> list[Path]:
    """The input files of ``paths``: files, directories' article files (recursively,
    sorted), glob matches, and ``-`` (standard input).

    Raises ``ValueError`` if a path does not exist and matches nothing, or names
    a file that is not an article file.
    """
    files: list[Path] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
            continue
        matches = (
            [path]
            if path.exists()
            else [
                Path(match)
                for match in sorted(glob.glob(str(path), recursive=True))
                if _is_glob(path)
            ]
        )
        if not matches:
            raise ValueError(f"{path}: no such file or directory")
        for match in matches:
            if match.is_dir():
                files.extend(
                    file
                    for file in sorted(match.rglob("*"))
                    if file.is_file() and _article_suffix(file)
                )
            elif _article_suffix(match) is not None:
                files.append(match)
            elif match == path:
                raise ValueError(
                    f"{path}: not an article file (expected "
                    f"{', '.join(ARTICLE_SUFFIXES)} or .gz of those)"
                )
    return files


class Reader:
    """Reads inputs into messages: articles for the raw topic, and refusals.

    One reader per replay: it remembers the content of the ids it has read (in a
    table that grows to a bound, see :mod:`newswire.replay.seen`), to number revisions and
    skip repeats across all the inputs. ``report`` gets one
    line per damaged file, and per file resumed from a checkpoint. Only the
    articles ``selection`` takes are published, at most ``limit`` of them;
    ``on_record`` is told the file and offset after each record read.
    """

    def __init__(
        self,
        settings: Settings,
        counts: ReplayCounts | None = None,
        report: Callable[[str], None] = _print_to_stderr,
        *,
        selection: Selection | None = None,
        limit: int | None = None,
        checkpoints: ReplayCheckpoints | None = None,
        on_record: Callable[[Path, int], None] | None = None,
        stdin: io.BufferedReader[Any] | None = None,
    ) -> None:
        self.max_article_bytes = settings.max_article_bytes
        self.counts = counts if counts is not None else ReplayCounts()
        self.report = report
        self.selection = selection or Selection()
        self.limit = limit
        self.checkpoints = checkpoints
        self._on_record = on_record
        self._stdin = stdin
        self._seen = SeenContent(settings.replay_seen_articles)
        self._admitted = 0
        self._position: FilePosition | None = None

    @property
    def table_bytes(self) -> int:
        """Bytes of its table of content seen, now."""
        return self._seen.nbytes

    def read(self, paths: Iterable[Path]) -> Iterator[Message]:
        """Messages of every article file in ``paths``, in order, as they are read.

        Raises ``ValueError`` at once for a bad path (see :func:`input_files`).
        """
        return self._read_files(input_files(paths))

    def _read_files(self, files: list[Path]) -> Iterator[Message]:
        for file in files:
            if self._limit_reached():
                return
            yield from self._read_file(file)

    def _limit_reached(self) -> bool:
        return self.limit is not None and self._admitted >= self.limit

    def _read_file(self, path: Path) -> Iterator[Message]:
        """The messages of one file (from its checkpoint on), then one line of report if
        some of it was refused."""
        start = self._resume_position(path)
        if start is not None and start.complete:
            return
        self._position = start or FilePosition(path, 0, 0)
        articles = refused = 0
        first: Refused | None = None
        last: Refused | None = None
        for message in self._messages_of(path, self._position):
            message = replace(message, position=self._position)
            if isinstance(message, Outbound):
                articles += 1
                self._admitted += 1
            else:
                refused += 1
                first, last = first or message, message
            yield message
            if self._limit_reached():
                break
        else:
            if self.checkpoints is not None and path != STDIN:
                # Read to its end: damage too is not read again.
                yield replace(self._position, complete=True)
        if first is not None and last is not None:
            # The last refusal is shown too: damage that ends the reading comes last.
            problems = _describe(first) + ("" if last is first else f" ... {_describe(last)}")
            self.report(
                f"newswire: {problems} ({articles} articles read from {path}, "
                f"{refused} dead-lettered)"
            )

    def _resume_position(self, path: Path) -> FilePosition | None:
        """Where the last replay of ``path`` stopped (and say so), if it has a checkpoint."""
        if self.checkpoints is None or path == STDIN:
            return None
        start = self.checkpoints.resume_position(path)
        if start is None or start.offset == 0:
            return None
        if start.complete:
            self.report(
                f"newswire: {path} was replayed to its end already (--from-start replays it again)"
            )
        else:
            self.report(
                f"newswire: resuming {path} after {start.records:,} records "
                f"(byte {start.offset:,}; --from-start reads it all again)"
            )
        return start

    def _advance(self, end: int, file_offset: int | None = None) -> None:
        """One record read, up to ``end`` in the current file (``file_offset`` in the
        compressed file, where it differs)."""
        assert self._position is not None
        self._position = FilePosition(self._position.path, end, self._position.records + 1)
        self.counts.read += 1
        if self._on_record is not None:
            self._on_record(self._position.path, end if file_offset is None else file_offset)

    def _skip(self, reason: str) -> None:
        self.counts.skipped[reason] += 1

    def _messages_of(self, path: Path, start: FilePosition) -> Iterator[Outbound | Refused]:
        if path == STDIN:
            yield from self._stdin_messages()
            return
        suffix = _article_suffix(path)
        if suffix == ".warc":
            with path.open("rb") as stream:
                stream.seek(start.offset)
                yield from self._warc(path, stream)
            return
        if suffix == ".jsonl":
            with _open(path) as stream:
                stream.seek(start.offset)  # forward in a .gz: decompressed and dropped
                yield from self._jsonl(path, stream, start)
            return
        if suffix == ".json":
            with _open(path) as stream:
                yield from self._json(path, JsonText(cast(BinaryIO, stream), start.offset), start)
            return
        data, refused = _read_page(path, self.max_article_bytes)
        self._advance(path.stat().st_size)
        message = refused or self._page(path, data, suffix == ".txt")
        if message is not None:
            yield message

    def _stdin_messages(self) -> Iterator[Outbound | Refused]:
        """Standard input: a WARC or JSON lines, gzip-compressed or not."""
        stream = self._stdin or cast("io.BufferedReader[Any]", sys.stdin.buffer)
        head = stream.peek(_READ_CHUNK)
        gzipped = head[:2] == _GZIP_MAGIC
        if gzipped:
            head = zlib.decompressobj(wbits=31).decompress(head, 5)
        if head[:5] == b"WARC/":
            yield from self._warc(STDIN, stream)  # warcio reads its gzip members itself
        else:
            lines = gzip.GzipFile(fileobj=stream) if gzipped else stream
            yield from self._jsonl(STDIN, lines, FilePosition(STDIN, 0, 0))

    def _warc(
        self, path: Path, stream: BinaryIO | io.BufferedIOBase
    ) -> Iterator[Outbound | Refused]:
        try:
            for item in read_warc(stream, self.max_article_bytes):
                self._advance(item.end)
                if isinstance(item, WarcPage):
                    message = self._warc_page(path, item)
                    if message is not None:
                        yield message
                else:
                    self._skip(item.reason)
        except WarcDamage as damage:
            yield Refused(
                b"",
                f"{path}@{damage.offset}",
                damage.error_type,
                f"the WARC cannot be read from byte {damage.offset:,} on: {damage.reason}",
            )

    def _warc_page(self, path: Path, page: WarcPage) -> Outbound | Refused | None:
        location = f"{path}@{page.offset}"
        article_id = stable_id(url=page.url)
        # The page's own <meta> charset wins; the HTTP header's is for pages that give none.
        charset = None if page_charset(page.body) else page.charset
        try:
            html = decode_html(page.body, charset)
        except Rejected as error:
            return Refused(page.body, location, error.code, error.reason, article_id)
        article = RawArticle(
            id=article_id,
            url=page.url,
            source=url_host(page.url),
            html=html,
            fetched_at=page.fetched_at,
        )
        return self._admit(article, page.body, location, f"file:{location}", page.language)

    def _page(self, path: Path, data: bytes, is_text: bool) -> Outbound | Refused | None:
        article_id = stable_id(content=data)
        try:
            content = decode_html(data)
        except Rejected as error:
            return Refused(data, str(path), error.code, error.reason, article_id)
        fields = {"text": content} if is_text else {"html": content}
        article = RawArticle(id=article_id, fetched_at=datetime.now(UTC), **fields)
        return self._admit(article, data, str(path), f"file:{path}")

    def _json(
        self, path: Path, text: JsonText, start: FilePosition
    ) -> Iterator[Outbound | Refused]:
        """A JSON document: the elements of a list one by one as they are read (from
        ``start``, just after an element), or the one article it is."""
        number = start.records
        try:
            if start.offset == 0 and text.peek() != "[":
                data = text.rest(self.max_article_bytes).encode("utf-8", "surrogatepass")
                self._advance(text.offset)
                yield from self._json_document(path, data)
                return
            if start.offset == 0:
                text.skip()
            for number, (record, value) in enumerate(
                list_items(text, start.offset > 0, self.max_article_bytes), start.records
            ):
                self._advance(text.offset)
                message = self._record(
                    record,
                    value.encode("utf-8", "surrogatepass"),
                    f"{path}#/{number}",
                    f"file:{path}",
                )
                if message is not None:
                    yield message
        except JsonDamage as damage:
            location = f"{path}:{damage.line}" if damage.line else f"{path}@{damage.offset}"
            yield Refused(damage.rest, location, damage.error_type, damage.reason)
        except (OSError, EOFError, zlib.error) as error:
            yield _damage(path, error, text.offset, f"element {number + 1}")

    def _json_document(self, path: Path, data: bytes) -> Iterator[Outbound | Refused]:
        """A JSON document that is not a list: one article."""
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            error_type, reason = describe_error(error)
            yield Refused(data, f"{path}:{error.lineno}", error_type, reason)
            return
        message = self._record(parsed, data, str(path), f"file:{path}")
        if message is not None:
            yield message

    def _jsonl(
        self, path: Path, stream: Iterable[bytes], start: FilePosition
    ) -> Iterator[Outbound | Refused]:
        number, offset = start.records, start.offset
        compressed = cast(BinaryIO, stream.fileobj) if isinstance(stream, gzip.GzipFile) else None
        try:
            for number, line in enumerate(stream, start=start.records + 1):
                offset += len(line)
                self._advance(offset, compressed.tell() if compressed else None)
                if line.strip():
                    message = self._line(line.rstrip(b"\r\n"), path, number)
                    if message is not None:
                        yield message
        except (OSError, EOFError, zlib.error) as error:
            yield _damage(path, error, offset, f"line {number + 1}")

    def _line(self, line: bytes, path: Path, number: int) -> Outbound | Refused | None:
        location = f"{path}:{number}"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            return Refused(line, location, *describe_error(error))
        return self._record(record, line, location, f"file:{path}:{number}")

    def _record(
        self, record: Any, value: bytes, location: str, provenance: str
    ) -> Outbound | Refused | None:
        """The article of one JSON value; ``value`` is how the input gave it."""
        if not isinstance(record, dict):
            return Refused(
                value,
                location,
                "invalid_record",
                f"an article is a JSON object, not {_JSON_KINDS[type(record)]}",
            )
        given = {key: field for key, field in record.items() if field is not None}
        known_id = _given_id(given)
        try:
            # Placeholders for what newswire fills in: errors name only the user's fields.
            article = RawArticle.model_validate(
                {"id": "", "fetched_at": datetime.now(UTC), **given}
            )
        except ValidationError as error:
            return Refused(value, location, *describe_error(error), article_id=known_id)
        site_name = given.get("site_name")
        article = article.model_copy(
            update={
                "id": known_id or stable_id(content=_content(article)),
                "source": article.source
                or (site_name if isinstance(site_name, str) else None)
                or url_host(article.url),
            }
        )
        return self._admit(article, value, location, provenance)

    def _admit(
        self,
        article: RawArticle,
        value: bytes,
        location: str,
        provenance: str,
        content_language: str | None = None,
    ) -> Outbound | Refused | None:
        """The message of ``article``, numbered as a revision; None for a repeat or an
        article the selection leaves out."""
        left_out = self.selection.rejection(article, content_language)
        if left_out is not None:
            self._skip(left_out)
            return None
        digest = content_hash(_content(article))
        revision = self._seen.revision(article.id, digest)
        if revision is None:
            self.counts.repeats += 1
            return None
        article = article.model_copy(
            update={"revision": revision, "content_hash": digest, "provenance": provenance}
        )
        message = Outbound.of(article, location)
        if len(message.value) > self.max_article_bytes:
            return Refused(
                value,
                location,
                "too_large",
                f"article of {len(message.value):,} bytes is over the limit of "
                f"{self.max_article_bytes:,} bytes",
                article.id,
            )
        self._seen.add(article.id, digest)
        return message


def read_inputs(paths: Iterable[Path], settings: Settings | None = None) -> list[Outbound]:
    """The articles of ``paths`` in a list (refusals left out): for small inputs."""
    reader = Reader(settings or Settings())
    return [message for message in reader.read(paths) if isinstance(message, Outbound)]


def _is_glob(path: Path) -> bool:
    return any(char in str(path) for char in "*?[")


def _article_suffix(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    return next((suffix for suffix in ARTICLE_SUFFIXES if name.endswith(suffix)), None)


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path) if path.suffix == ".gz" else path.open("rb")


def _read_page(path: Path, most_bytes: int) -> tuple[bytes, Refused | None]:
    """The (decompressed) bytes of a one-article file, or what was read and the damage
    met; a file over ``most_bytes`` is refused (too_large) without being read whole."""
    size = path.stat().st_size
    if path.suffix != ".gz" and size > most_bytes:
        return b"", _too_large(path, f"{size:,} bytes", most_bytes)
    chunks: list[bytes] = []
    read = 0
    try:
        with _open(path) as stream:
            while chunk := stream.read(_READ_CHUNK):
                chunks.append(chunk)
                read += len(chunk)
                if read > most_bytes:
                    return b"", _too_large(path, f"over {most_bytes:,} bytes", most_bytes)
    except (OSError, EOFError, zlib.error) as error:
        data = b"".join(chunks)
        return data, _damage(path, error, len(data), "the file", value=data)
    return b"".join(chunks), None


def _too_large(path: Path, size: str, most_bytes: int) -> Refused:
    return Refused(
        b"",
        str(path),
        "too_large",
        f"a file of {size} is over the limit of {most_bytes:,} bytes of an article; it is not read",
    )


def _damage(
    path: Path, error: BaseException, offset: int, part: str, value: bytes = b""
) -> Refused:
    """The refusal of a file's unreadable rest, from ``offset`` (decompressed) on."""
    if isinstance(error, EOFError):
        error_type = "truncated"
    elif isinstance(error, gzip.BadGzipFile | zlib.error):
        error_type = "corrupt_gzip"
    else:
        error_type = "unreadable"
    reason = f"{part} cannot be read from byte {offset:,} on: {error}"
    return Refused(value, f"{path}@{offset}", error_type, reason)


def _describe(refused: Refused) -> str:
    return f"{refused.error_type} at {refused.location}: {refused.reason}"


def _given_id(record: dict[str, Any]) -> str | None:
    """The id a record gives, or that its URL gives."""
    given, url = record.get("id"), record.get("url")
    if isinstance(given, str) and given:
        return given
    return stable_id(url=url) if isinstance(url, str) and url else None


def _content(article: RawArticle) -> str:
    """What the id and content hash are taken of: the HTML, else the text."""
    return article.html if article.html is not None else article.text or ""


class RawPublisher:
    """A producer for the raw topic; use as ``async with RawPublisher(settings) as p``.

    Articles are dealt to the partitions in turn, starting at a random one, rather
    than placed by a hash of their key: raw articles need no order, and cleaning and
    NER, the heaviest stages, then get the same number of articles on every
    partition (a hash leaves a few hundred articles several percent apart). The key
    stays the article id, for consumers.

    Refusals, and messages the broker refuses, go to the dead-letter topic;
    ``counts`` sums up both, and ``on_published`` gets each article the broker has.
    With ``checkpoints``, each file's position is saved once the broker has every
    message up to it; with ``pacer``, articles are sent at its rate.
    """

    def __init__(
        self,
        settings: Settings,
        counts: ReplayCounts | None = None,
        on_published: Callable[[Outbound], None] | None = None,
        checkpoints: ReplayCheckpoints | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        assert settings.broker_url, "publishing needs a broker URL"
        self.topic = RAW.name(settings.topic_prefix)
        self.dead_letter_topic = DEAD_LETTERS.name(settings.topic_prefix)
        self.counts = counts if counts is not None else ReplayCounts()
        self._on_published = on_published
        self._checkpoints = checkpoints
        self._pacer = pacer
        self._payload_bytes = settings.dead_letter_payload_bytes
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

    async def send(self, messages: Iterable[Message]) -> int:
        """Send ``messages`` and wait until the broker has them all; return how many
        articles it took (the others are dead-lettered)."""
        deliveries = []
        refused: list[Refused] = []
        positions: dict[Path, FilePosition] = {}
        for message in messages:
            position = message if isinstance(message, FilePosition) else message.position
            if position is not None:
                positions[position.path] = position
            if isinstance(message, FilePosition):
                continue
            if isinstance(message, Refused):
                refused.append(message)
                continue
            if self._pacer is not None:
                await self._pacer.wait()
            try:
                delivery = await self._producer.send(
                    self.topic,
                    key=message.key.encode(),
                    value=message.value,
                    partition=self._next_partition(),
                )
            except KafkaError as error:
                refused.append(_refused_by_broker(message, error))
            else:
                deliveries.append((message, delivery))
        published = 0
        for message, delivery in deliveries:
            try:
                await delivery
            except KafkaError as error:
                refused.append(_refused_by_broker(message, error))
            else:
                published += 1
                if message.revision > 1:
                    self.counts.revisions += 1
                if self._on_published:
                    self._on_published(message)
        self.counts.published += published
        await self._dead_letter(refused)
        if self._checkpoints is not None:
            for position in positions.values():
                self._checkpoints.save(position)
        return published

    async def _dead_letter(self, refused: list[Refused]) -> None:
        deliveries = [
            await self._producer.send(
                self.dead_letter_topic,
                key=(message.article_id or message.location or "").encode(),
                value=message.dead_letter(self._payload_bytes).to_json(),
            )
            for message in refused
        ]
        for delivery in deliveries:
            await delivery
        self.counts.dead_lettered.update(message.error_type for message in refused)

    def _next_partition(self) -> int:
        self._sent += 1
        return self._partitions[self._sent % len(self._partitions)]


def _refused_by_broker(message: Outbound, error: KafkaError) -> Refused:
    return Refused(
        message.value,
        message.location,
        type(error).__name__,
        f"the broker refused the article: {error}",
        message.key,
    )


class Pacer:
    """Spaces what is sent to ``rate`` a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()

    async def wait(self) -> None:
        """Wait until the next one is due."""
        delay = self._next - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._next = max(self._next, time.monotonic()) + 1 / self.rate


async def publish(
    settings: Settings,
    messages: Iterable[Message],
    counts: ReplayCounts | None = None,
    on_published: Callable[[Outbound], None] | None = None,
    checkpoints: ReplayCheckpoints | None = None,
    rate: float | None = None,
) -> int:
    """Send ``messages`` to the raw topic (refusals to the dead-letter topic) as they
    come, in batches (of about a second's worth at ``rate`` articles a second), saving
    ``checkpoints`` after each; return how many articles were published."""
    published = 0
    pacer = Pacer(rate) if rate else None
    batch_size = min(SEND_BATCH, max(1, round(rate))) if rate else SEND_BATCH
    async with RawPublisher(settings, counts, on_published, checkpoints, pacer) as publisher:
        for batch in _batches(messages, batch_size):
            published += await publisher.send(batch)
    return published


def _batches(messages: Iterable[Message], most: int = SEND_BATCH) -> Iterator[list[Message]]:
    """``messages`` in lists of at most ``most`` or about ``SEND_BATCH_BYTES``."""
    batch: list[Message] = []
    size = 0
    for message in messages:
        batch.append(message)
        size += 0 if isinstance(message, FilePosition) else len(message.value)
        if len(batch) >= most or size >= SEND_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
