"""Reading archives into raw-article messages, and publishing them."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from newswire.replay.inputs import (
    Message,
    Outbound,
    Reader,
    Refused,
    read_inputs,
    stable_id,
)
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.conftest import SEEDS


def read(*paths: Path) -> list[Message]:
    """Every message the reader makes of ``paths``."""
    return list(Reader(Settings()).read(paths))


def test_seed_directory_gives_five_articles_with_content_ids() -> None:
    messages = read_inputs([SEEDS])
    assert len(messages) == 5
    for message, path in zip(messages, sorted(SEEDS.glob("*.txt")), strict=True):
        article = RawArticle.from_json(message.value)
        assert message.key == article.id == stable_id(content=path.read_bytes())
        assert article.text == path.read_text()


def test_reading_twice_gives_the_same_ids() -> None:
    first = [message.key for message in read_inputs([SEEDS])]
    assert first == [message.key for message in read_inputs([SEEDS, SEEDS])]


def test_jsonl_gz_with_ids_urls_and_a_broken_line(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"id": "given", "text": "A body.", "title": "T"}),
        orjson.dumps({"url": "https://example.org/a", "html": "<p>x</p>"}),
        b"{not json",
        orjson.dumps({"text": 42}),
    ]
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    first, second, broken, wrong = read(path)
    assert isinstance(first, Outbound) and isinstance(second, Outbound)
    assert [first.key, second.key] == ["given", stable_id(url="https://example.org/a")]
    # Unreadable records are refused where they are, with file and line, for the dead letters.
    assert isinstance(broken, Refused) and isinstance(wrong, Refused)
    assert (broken.location, broken.error_type, broken.value) == (
        f"{path}:3",
        "invalid_json",
        b"{not json",
    )
    assert (wrong.location, wrong.error_type) == (f"{path}:4", "invalid_record")
    assert "text" in wrong.reason


def test_html_file_is_decoded_by_its_meta_charset(tmp_path: Path) -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café société</p></body></html>'
    path = tmp_path / "page.html"
    path.write_bytes(page.encode("iso-8859-1"))
    (message,) = read(path)
    assert isinstance(message, Outbound)
    assert "Café société" in (RawArticle.from_json(message.value).html or "")


def test_unknown_file_type_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="not an article file"):
        read(path)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file or directory"):
        read(tmp_path / "missing.jsonl")
