"""WARC archives read with warcio: the HTML pages of their HTTP 200 responses, and why
every other record is skipped.

Reads what web archivers write (wget ``--warc-file``, Heritrix, Browsertrix) and
Common Crawl's CC-NEWS: ``.warc``, or ``.warc.gz`` with one gzip member per record.
A page is the payload of a ``response`` record of an HTTP 200 whose Content-Type
is HTML or XHTML, with its transfer and content encodings undone (chunked, gzip,
deflate, brotli). Every other record is skipped with a reason: ``warcinfo``,
``request``, ``metadata``, ``resource``... records by their type, ``revisit``
records (not resolved to their original: a revisit says the page had not
changed, so its original, if in the replay, is the article), ``redirect``
(HTTP 3xx), ``http_error`` (any other status), ``not_html``.

warcio rather than FastWARC: FastWARC iterates about three times faster, but it
yields a record cut short as an empty record with no error and reports a gzip
fault without its offset, and either library reads far faster than a replay
publishes (see ``newswire.replay.bench``).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class WarcPage:
    """The HTML page of an HTTP 200 response record, from ``offset`` to ``end`` in the file."""

    url: str
    fetched_at: datetime
    body: bytes
    """The payload, encodings undone; at most ``max_body_bytes + 1`` bytes of it."""
    charset: str | None
    """The charset of the HTTP Content-Type header, if it names one."""
    language: str | None
    """The HTTP Content-Language header, if any."""
    offset: int
    end: int


@dataclass(frozen=True)
class WarcSkip:
    """A record that is not a page, and why."""

    reason: str
    offset: int
    end: int


class WarcDamage(Exception):
    """The file cannot be read from ``offset`` on: a truncated or corrupt record."""

    def __init__(self, offset: int, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.error_type = error_type
        self.reason = reason


def read_warc(
    stream: BinaryIO | io.BufferedIOBase,
    max_body_bytes: int,
) -> Iterator[WarcPage | WarcSkip]:
    """The pages and skipped records of the WARC ``stream``, from where it is on.

    Offsets are the stream's (compressed) positions. Raises :class:`WarcDamage`
    at the first record that is cut short or cannot be parsed: ``truncated``
    when the stream ends in it, else ``corrupt_warc`` or ``corrupt_gzip``.
    """
    records = ArchiveIterator(stream)
    offset = records.offset
    try:
        # warcio fails on some cut or garbled headers with an AttributeError of its own.
        while (record := next(records, None)) is not None:
            offset = records.offset
            page_or_reason = _page_or_reason(record, max_body_bytes)
            records.read_to_end(record)
            if (
                record.rec_type is None
                or record.rec_headers.get_header("Content-Length") is None
                or record.raw_stream.limit
            ):
                raise EOFError("the file ends inside a record")
            if isinstance(page_or_reason, str):
                yield WarcSkip(page_or_reason, offset, records.offset)
            else:
                yield _page(record, page_or_reason, offset, records.offset)
            offset = records.offset
        if records.fh.tell() > offset:
            raise EOFError("the file ends inside a record")
    except (ArchiveLoadFailed, AttributeError, OSError, EOFError, zlib.error) as error:
        raise _damage(offset, error) from None


def _damage(offset: int, error: Exception) -> WarcDamage:
    if isinstance(error, EOFError):
        return WarcDamage(offset, "truncated", str(error))
    if isinstance(error, OSError | zlib.error):
        return WarcDamage(offset, "corrupt_gzip", f"cannot be decompressed: {error}")
    if isinstance(error, AttributeError):
        return WarcDamage(offset, "corrupt_warc", "a record's headers are cut short or garbled")
    return WarcDamage(offset, "corrupt_warc", f"not a WARC record: {error}")


def _page_or_reason(record: ArcWarcRecord, max_body_bytes: int) -> bytes | str:
    """The page's body, or why ``record`` is not a page."""
    if record.rec_type != "response":
        return str(record.rec_type)
    http = record.http_headers
    if http is None or not _target(record):
        return "not_http"
    status = http.get_statuscode()
    if status != "200":
        return "redirect" if status.startswith("3") else "http_error"
    media_type = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if media_type not in HTML_MEDIA_TYPES:
        return "not_html"
    body: bytes = record.content_stream().read(max_body_bytes + 1)
    return body


def _page(record: ArcWarcRecord, body: bytes, offset: int, end: int) -> WarcPage:
    http = record.http_headers
    return WarcPage(
        url=_target(record),
        fetched_at=_warc_date(record.rec_headers.get_header("WARC-Date")),
        body=body,
        charset=_charset(http.get_header("Content-Type") or ""),
        language=http.get_header("Content-Language"),
        offset=offset,
        end=end,
    )


def _target(record: ArcWarcRecord) -> str:
    return str(record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")


def _warc_date(text: str | None) -> datetime:
    """The record's WARC-Date (UTC); now if it has none that parses."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    return None
