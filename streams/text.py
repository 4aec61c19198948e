"""Text normalisation shared by the stages."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_QUOTES_AND_DASHES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
    }
)
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n[ \t\f\v\u00a0]*\n\s*")
_LIST_ITEM_START = re.compile(r"\n(?=[^\S\n]*[•▪◦‣►▸·*\-–—][^\S\n])")


def normalise_display(text: str) -> str:
    """NFC, invisible characters removed; typography kept for display."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def split_paragraphs(text: str) -> list[str]:
    """Display-normalised paragraphs of ``text``: blocks separated by blank lines.

    A line that starts with a list marker (``•``, ``-``, ``*``...) starts a
    paragraph of its own. Each paragraph is ``normalise_display``-ed with its
    whitespace (no-break spaces, tabs, line breaks inside the block) collapsed
    to single spaces; empty paragraphs are dropped.
    """
    text = normalise_display(text.replace("\r\n", "\n").replace("\r", "\n"))
    pieces = (
        _SPACES.sub(" ", piece).strip()
        for block in _BLANK_LINES.split(text)
        for piece in _LIST_ITEM_START.split(block)
    )
    return [piece for piece in pieces if piece]


def join_paragraphs(paragraphs: list[str]) -> str:
    """The one text layout of the project: paragraphs separated by a blank line."""
    return "\n\n".join(paragraphs)


def normalise_for_matching(text: str) -> str:
    """Form used for matching: NFKC, plain quotes and dashes, lower case, single spaces."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _SPACES.sub(" ", text.translate(_QUOTES_AND_DASHES)).strip().lower()


def fingerprint(text: str) -> str:
    """Content fingerprint: first 16 hex digits of SHA-256 of the matching form."""
    return hashlib.sha256(normalise_for_matching(text).encode()).hexdigest()[:16]


def content_hash(content: bytes | str) -> str:
    """Hash of an article's raw content (its text or HTML as given): 16 hex digits of SHA-256."""
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()[:16]
