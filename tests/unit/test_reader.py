"""The replay reader on damaged and tricky inputs: it reads what it can, refuses the rest
with file and place, numbers revisions, skips repeats and names the publisher."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from pathlib import Path

import orjson
import pytest

from newswire.replay.inputs import Message, Outbound, Reader, Refused, ReplayCounts, stable_id
from newswire.replay.seen import FIRST_BUCKETS, WAYS
from newswire.replay.state import ReplayCheckpoints
from schemas.records import RawArticle
from schemas.settings import Settings

FULL_TABLE = Settings(replay_seen_articles=FIRST_BUCKETS * WAYS)
"""A reader's settings whose table of content seen is at its full size from the start."""


class Replay:
    """A reader over files the test writes, keeping its report lines and counts."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.reports: list[str] = []
        self.counts = ReplayCounts()
        self.reader = Reader(settings or Settings(), self.counts, self.reports.append)

    def read(self, *paths: Path) -> list[Message]:
        return list(self.reader.read(paths))


def articles(messages: list[Message]) -> list[RawArticle]:
    return [RawArticle.from_json(m.value) for m in messages if isinstance(m, Outbound)]


def refusals(messages: list[Message]) -> list[Refused]:
    return [m for m in messages if isinstance(m, Refused)]


def jsonl(path: Path, *records: object) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_json_values_that_are_not_objects_are_refused_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'"text"\n12\nnull\ntrue\n[1]\n{"text": "A real article."}\n')
    replay = Replay()
    messages = replay.read(path)
    assert [a.text for a in articles(messages)] == ["A real article."]
    refused = refusals(messages)
    assert [(r.location, r.error_type) for r in refused] == [
        (f"{path}:{line}", "invalid_record") for line in range(1, 6)
    ]
    assert [r.value for r in refused] == [b'"text"', b"12", b"null", b"true", b"[1]"]
    assert "not a string" in refused[0].reason and "not an array" in refused[4].reason
    (report,) = replay.reports
    assert f"{path}:1" in report and f"{path}:5" in report and "5 dead-lettered" in report


def test_elements_of_a_json_list_that_are_not_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(orjson.dumps([{"text": "First."}, "oops", {"text": "Third."}]))
    messages = Replay().read(path)
    assert [a.text for a in articles(messages)] == ["First.", "Third."]
    (refused,) = refusals(messages)
    assert (refused.location, refused.error_type, refused.value) == (
        f"{path}#/1",
        "invalid_record",
        b'"oops"',
    )


def test_a_binary_html_file_is_refused_and_the_next_file_read(tmp_path: Path) -> None:
    binary = tmp_path / "a.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "b.html").write_bytes(b"<html><body><p>A page.</p></body></html>")
    replay = Replay()
    messages = replay.read(tmp_path)
    (refused,) = refusals(messages)
    assert (refused.location, refused.error_type) == (str(binary), "binary")
    assert refused.article_id == stable_id(content=binary.read_bytes())
    assert "A page." in (articles(messages)[0].html or "")
    (report,) = replay.reports
    assert str(binary) in report and "binary" in report


@pytest.mark.parametrize("name", ["zeros.txt", "zeros.jsonl", "zeros.json"])
def test_a_nul_filled_file_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 4096)
    replay = Replay()
    (refused,) = replay.read(path)
    assert isinstance(refused, Refused)
    assert refused.error_type in {"binary", "invalid_json"}
    assert refused.location is not None and refused.location.startswith(str(path))
    assert len(replay.reports) == 1


def test_a_truncated_jsonl_gz_gives_the_lines_before_the_damage(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"url": f"https://example.org/{n}", "text": f"Story {n}. " * 30})
        for n in range(300)
    ]
    whole = gzip.compress(b"".join(line + b"\n" for line in lines))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    replay = Replay()
    messages = replay.read(path)
    read = articles(messages)
    assert 50 < len(read) < 300
    assert [a.url for a in read] == [f"https://example.org/{n}" for n in range(len(read))]
    assert messages[-1] is refusals(messages)[0]
    damage = refusals(messages)[0]
    offset = sum(len(line) + 1 for line in lines[: len(read)])
    assert (damage.location, damage.error_type) == (f"{path}@{offset}", "truncated")
    assert f"line {len(read) + 1}" in damage.reason
    (report,) = replay.reports
    assert f"{path}@{offset}" in report and f"{len(read)} articles read" in report


def test_a_corrupt_gz_is_refused_and_its_directory_read_on(tmp_path: Path) -> None:
    corrupt = tmp_path / "a.jsonl.gz"
    corrupt.write_bytes(b"this is not gzip at all\n")
    line = orjson.dumps({"text": "Read, then its checksum fails."}) + b"\n"
    bad_checksum = bytearray(gzip.compress(line))
    bad_checksum[-8] ^= 0xFF  # the CRC-32 of the gzip trailer
    (tmp_path / "b.jsonl.gz").write_bytes(bytes(bad_checksum))
    jsonl(tmp_path / "c.jsonl", {"text": "Kept."})
    replay = Replay()
    messages = replay.read(tmp_path)
    assert [a.text for a in articles(messages)] == ["Read, then its checksum fails.", "Kept."]
    assert [(r.location, r.error_type) for r in refusals(messages)] == [
        (f"{corrupt}@0", "corrupt_gzip"),
        (f"{tmp_path / 'b.jsonl.gz'}@{len(line)}", "corrupt_gzip"),
    ]
    assert "CRC check failed" in refusals(messages)[1].reason
    assert len(replay.reports) == 2


def test_a_malformed_json_list_gives_the_elements_before_the_damage(tmp_path: Path) -> None:
    broken = tmp_path / "a.json"
    broken.write_bytes(b'[\n  {"text": "One."},\n  {"text": \n')
    (tmp_path / "b.json").write_bytes(orjson.dumps([{"text": "Two."}, {"text": "Three."}]))
    replay = Replay()
    messages = replay.read(tmp_path)
    assert [a.text for a in articles(messages)] == ["One.", "Two.", "Three."]
    (refused,) = refusals(messages)
    assert (refused.location, refused.error_type) == (f"{broken}:4", "invalid_json")
    assert refused.reason == "value is not JSON: Expecting value: line 4 column 1"
    assert refused.value == b'{"text": \n'
    (report,) = replay.reports
    assert f"{broken}:4" in report


def test_a_wrong_field_type_is_blamed_on_that_field_only(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "wrong.jsonl",
        {"url": 12345},
        {"text": ["a", "list"]},
        {"url": "https://example.org/x", "published_at": "yesterday-ish"},
    )
    url, text, date = Replay().read(path)
    assert isinstance(url, Refused) and isinstance(text, Refused) and isinstance(date, Refused)
    # One problem each, in the field the user wrote (not the id or fetch time newswire fills).
    assert url.reason == "not a valid RawArticle: url: Input should be a valid string"
    assert text.reason == "not a valid RawArticle: text: Input should be a valid string"
    assert date.reason.startswith("not a valid RawArticle: published_at: ")
    assert ";" not in date.reason
    assert date.article_id == stable_id(url="https://example.org/x")


def test_new_content_under_a_known_url_is_the_next_revision(tmp_path: Path) -> None:
    url = "https://example.org/live"
    path = jsonl(
        tmp_path / "live.jsonl",
        {"url": url, "text": "Update one."},
        {"url": url, "text": "Update two."},
        {"url": url, "text": "Update one."},
        {"url": url, "text": "Update three."},
    )
    replay = Replay()
    read = articles(replay.read(path))
    assert [(a.id, a.revision, a.text) for a in read] == [
        (stable_id(url=url), 1, "Update one."),
        (stable_id(url=url), 2, "Update two."),
        (stable_id(url=url), 3, "Update three."),
    ]
    assert [a.content_hash for a in read] == [sha16(a.text or "") for a in read]
    assert replay.counts.repeats == 1


def test_the_same_content_twice_is_one_article(tmp_path: Path) -> None:
    record = {"id": "same", "text": "Identical."}
    jsonl(tmp_path / "a.jsonl", record)
    jsonl(tmp_path / "b.jsonl", record)
    replay = Replay()
    (article,) = articles(replay.read(tmp_path))
    assert (article.id, article.revision) == ("same", 1)
    assert replay.counts.repeats == 1


def test_the_source_is_the_publisher_and_the_file_is_the_provenance(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "outlets.jsonl",
        {"url": "https://www.bbc.co.uk/news/1", "text": "One.", "source": "BBC News"},
        {"url": "https://www.reuters.com/world/2", "text": "Two.", "site_name": "Reuters"},
        {"url": "https://WWW.apnews.com/article/3", "text": "Three."},
        {"text": "Four."},
    )
    (tmp_path / "page.txt").write_text("Five.")
    read = articles(Replay().read(path, tmp_path / "page.txt"))
    assert [a.source for a in read] == ["BBC News", "Reuters", "apnews.com", None, None]
    assert [a.provenance for a in read] == [
        *(f"file:{path}:{line}" for line in range(1, 5)),
        f"file:{tmp_path / 'page.txt'}",
    ]


def test_a_record_over_the_size_limit_is_refused_not_sent(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "big.jsonl", {"id": "big", "text": "x" * 5000}, {"id": "small", "text": "Small."}
    )
    big, small = Replay(Settings(max_article_bytes=2000)).read(path)
    assert isinstance(big, Refused) and isinstance(small, Outbound)
    assert (big.error_type, big.article_id, big.location) == ("too_large", "big", f"{path}:1")


def test_reading_streams_a_large_input(tmp_path: Path) -> None:
    path = tmp_path / "large.jsonl.gz"
    body = "A sentence of the article body. " * 60
    with gzip.open(path, "wb") as out:
        for number in range(8000):
            out.write(orjson.dumps({"id": f"a{number}", "text": f"{number} {body}"}) + b"\n")
    input_bytes = 8000 * len(body)
    reader = Reader(FULL_TABLE)  # its table of content seen: full size, left out
    tracemalloc.start()
    try:
        count = sum(isinstance(m, Outbound) for m in reader.read([path]))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8000
    assert peak < input_bytes / 10, f"peak {peak:,} bytes for {input_bytes:,} of input"


def test_the_readers_memory_is_the_same_for_10_000_articles_as_for_1_000(tmp_path: Path) -> None:
    def peak_bytes(records: int) -> int:
        path = jsonl(
            tmp_path / f"{records}.jsonl",
            *({"id": f"a{n}", "text": f"Article {n}."} for n in range(records)),
        )
        reader = Reader(FULL_TABLE)  # its table of content seen: full size, left out
        tracemalloc.start()
        try:
            assert sum(isinstance(m, Outbound) for m in reader.read([path])) == records
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak_bytes(1_000), peak_bytes(10_000)
    assert large - small < 50_000, f"{small:,} bytes over 1,000 articles, {large:,} over 10,000"


def big_json_list(path: Path, count: int) -> Path:
    body = "A sentence of the article body. " * 60
    with gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb") as out:
        out.write(b"[\n")
        out.write(
            b",\n".join(
                orjson.dumps({"id": f"a{n}", "text": f"{n} {body}", "n": n / 3})
                for n in range(count)
            )
        )
        out.write(b"\n]\n")
    return path


@pytest.mark.parametrize("name", ["large.json", "large.json.gz"])
def test_a_json_list_is_streamed_element_by_element(tmp_path: Path, name: str) -> None:
    path = big_json_list(tmp_path / name, 8000)  # 15 MB: elements across read chunks
    reader = Reader(FULL_TABLE)  # its table of content seen: full size, left out
    tracemalloc.start()
    try:
        ids = [m.key for m in reader.read([path]) if isinstance(m, Outbound)]
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ids == [f"a{n}" for n in range(8000)]
    assert peak < 8_000_000, f"peak {peak:,} bytes for a 15 MB list"


def test_a_json_list_resumes_after_the_last_element_published(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(orjson.dumps([{"id": f"a{n}", "text": f"Article {n}."} for n in range(5)]))
    checkpoints = ReplayCheckpoints(tmp_path / "replay")
    first = list(Reader(Settings(), limit=2, checkpoints=checkpoints).read([path]))
    last = first[-1]
    assert isinstance(last, Outbound) and last.position is not None
    checkpoints.save(last.position)  # what the publisher does once the broker has them
    rest = list(Reader(Settings(), checkpoints=checkpoints).read([path]))
    assert [(m.key, m.location) for m in rest if isinstance(m, Outbound)] == [
        (f"a{n}", f"{path}#/{n}") for n in range(2, 5)
    ]


@pytest.mark.parametrize("name", ["huge.txt", "huge.html.gz", "huge.json"])
def test_a_one_article_file_over_the_limit_is_refused_unread(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    text = b'"' + b"word " * 4_000_000 + b'"'  # 20 MB
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    reader = Reader(Settings(max_article_bytes=1_000_000), report=lambda _line: None)
    tracemalloc.start()
    try:
        (refused,) = reader.read([path])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(refused, Refused)
    where = f"{path}:1" if name.endswith(".json") else str(path)  # a document: its line
    assert (refused.error_type, refused.location) == ("too_large", where)
    assert "over the limit of 1,000,000 bytes" in refused.reason
    assert peak < 4_000_000, f"peak {peak:,} bytes for a 20 MB file"
