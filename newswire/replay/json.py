"""A ``.json`` document read as a stream: the elements of a top-level list one at a time,
each parsed as soon as it is read whole, so that a huge list is never in memory whole
(at most one element, bounded by a limit, and a read buffer)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

_READ_CHUNK = 1 << 20
_NOT_SPACE = re.compile(r"[^ \t\r\n]")
_DECODER = json.JSONDecoder()


class JsonDamage(Exception):
    """The rest of a JSON document cannot be read: it is not JSON, or too large."""

    def __init__(
        self, error_type: str, reason: str, line: int | None, offset: int, rest: str
    ) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason
        self.line = line
        """The line of the damage; None when reading started mid-document."""
        self.offset = offset
        """Bytes of the document before the part that cannot be read."""
        self.rest = rest.encode("utf-8", "surrogatepass")
        """What was read of that part (at most about the element limit)."""


class JsonText:
    """The UTF-8 text of a JSON document from byte ``offset`` of ``stream`` on, read in
    chunks; ``offset`` and ``line`` say how far it is consumed."""

    def __init__(self, stream: BinaryIO, offset: int = 0) -> None:
        self._stream = stream
        stream.seek(offset)  # forward in a .gz: decompressed and dropped
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._at = 0
        self._ended = False
        self.offset = offset
        self.line: int | None = 1 if offset == 0 else None

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), consuming the
        white space before it."""
        while True:
            found = _NOT_SPACE.search(self._buffer, self._at)
            if found is not None:
                self._consume(found.start())
                return self._buffer[self._at]
            self._consume(len(self._buffer))
            if not self._read_more():
                return ""

    def skip(self) -> None:
        """Consume the character :meth:`peek` gave."""
        self._consume(self._at + 1)

    def value(self, most_bytes: int) -> tuple[Any, str]:
        """The JSON value that starts here, parsed, and its text; :class:`JsonDamage` if
        it is not JSON or its text is longer than ``most_bytes``."""
        while True:
            error: json.JSONDecodeError | None = None
            try:
                parsed, end = _DECODER.raw_decode(self._buffer, self._at)
            except json.JSONDecodeError as failed:
                error = failed
            else:
                # A number read to the buffer's end may go on in the next chunk.
                if end < len(self._buffer) or self._ended:
                    text = self._buffer[self._at : end]
                    self._consume(end)
                    return parsed, text
            if len(self._buffer) - self._at > most_bytes:
                raise self.damage(
                    "too_large",
                    f"a value is over the limit of {most_bytes:,} "
                    "bytes; the rest of the document is not read",
                )
            if not self._read_more() and error is not None:
                raise self.damage("invalid_json", f"value is not JSON: {error.msg}", error.pos)

    def rest(self, most_bytes: int) -> str:
        """All the text left; :class:`JsonDamage` if longer than ``most_bytes``."""
        while len(self._buffer) - self._at <= most_bytes and self._read_more():
            pass
        if len(self._buffer) - self._at > most_bytes:
            raise self.damage(
                "too_large", f"the document is over the limit of {most_bytes:,} bytes"
            )
        text = self._buffer[self._at :]
        self._consume(len(self._buffer))
        return text

    def damage(self, error_type: str, reason: str, position: int | None = None) -> JsonDamage:
        """The damage of the document from here on (at ``position`` of the buffer)."""
        line = self.line
        if position is not None and line is not None:
            before = self._buffer[self._at : position]
            line += before.count("\n")
            column = len(before) - before.rfind("\n")
            reason = f"{reason}: line {line} column {column}"
        return JsonDamage(error_type, reason, line, self.offset, self._buffer[self._at :])

    def _consume(self, end: int) -> None:
        consumed = self._buffer[self._at : end]
        self.offset += len(consumed.encode("utf-8", "surrogatepass"))
        if self.line is not None:
            self.line += consumed.count("\n")
        self._at = end

    def _read_more(self) -> bool:
        """Read the next chunk into the buffer; False at the end of the document."""
        if self._ended:
            return False
        chunk = self._stream.read(_READ_CHUNK)
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            raise self.damage("invalid_json", f"the document is not UTF-8 text: {error}") from error
        self._buffer = self._buffer[self._at :] + text
        self._at = 0
        self._ended = not chunk
        return bool(chunk)


def list_items(text: JsonText, resumed: bool, most_bytes: int) -> Iterator[tuple[Any, str]]:
    """The elements of the list ``text`` is in (parsed, and their text), from its opening
    bracket consumed on, or (``resumed``) from just after an element."""
    after_item = resumed
    while (char := text.peek()) != "]":
        if after_item:
            if char != ",":
                raise text.damage("invalid_json", "value is not JSON: expecting ',' or ']'", None)
            text.skip()
            text.peek()
        yield text.value(most_bytes)
        after_item = True
