"""Replaying web archives: the reader on WARC files written with warcio, filters, limit,
checkpoints, standard input and globs."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newswire.replay.filter import Selection
from newswire.replay.inputs import (
    STDIN,
    FilePosition,
    Outbound,
    Reader,
    Refused,
    ReplayCounts,
    stable_id,
)
from newswire.replay.state import ReplayCheckpoints
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.warc_files import WARC_DATE, WarcFile, seed_pages, write_mixed_archive

SKIPPED = {
    "warcinfo": 1,
    "request": 1,
    "metadata": 1,
    "revisit": 1,
    "http_error": 1,
    "redirect": 1,
    "not_html": 1,
}


def read(*paths: Path, **options: object) -> tuple[list[object], ReplayCounts, list[str]]:
    counts, reports = ReplayCounts(), list[str]()
    reader = Reader(Settings(), counts, reports.append, **options)  # type: ignore[arg-type]
    return list(reader.read(paths)), counts, reports


def articles(messages: list[object]) -> list[RawArticle]:
    return [RawArticle.from_json(m.value) for m in messages if isinstance(m, Outbound)]


@pytest.mark.parametrize("name", ["mixed.warc.gz", "mixed.warc"])
def test_each_html_response_is_an_article_and_the_rest_is_counted_by_reason(
    tmp_path: Path,
    name: str,
) -> None:
    path = tmp_path / name
    warc, urls = write_mixed_archive(path, gzipped=name.endswith(".gz"))
    messages, counts, reports = read(path)
    read_articles = articles(messages)
    assert [a.url for a in read_articles] == urls
    assert [a.id for a in read_articles] == [stable_id(url=url) for url in urls]
    assert {a.source for a in read_articles} == {f"news{n}.example" for n in range(5)}
    assert {a.fetched_at for a in read_articles} == {datetime.fromisoformat(WARC_DATE)}
    pages = seed_pages()
    for article, (title, _page) in zip(read_articles, pages, strict=True):
        assert f"<h1>{title}</h1>" in (article.html or "")  # chunks and gzip undone
    assert "Café de la Paix, déjà vu." in (read_articles[3].html or "")
    assert dict(counts.skipped) == SKIPPED
    assert counts.read == len(warc.offsets) - 1
    # The last record is cut short: the records before it are read, the damage named.
    (damage,) = [m for m in messages if isinstance(m, Refused)]
    assert messages[-1] is damage
    assert (damage.location, damage.error_type) == (f"{path}@{warc.offsets[-1]}", "truncated")
    (report,) = reports
    assert f"{path}@{warc.offsets[-1]}" in report and "5 articles read" in report
    assert read_articles[0].provenance == f"file:{path}@{warc.offsets[2]}"


def test_a_corrupt_record_stops_the_file_at_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.warc.gz"
    warc = WarcFile(path)
    for number, (_title, page) in enumerate(seed_pages()[:3]):
        warc.response(f"https://example.org/{number}", page)
    warc.close()
    data = bytearray(path.read_bytes())
    data[warc.offsets[2] + 30 : warc.offsets[2] + 60] = b"x" * 30
    path.write_bytes(bytes(data))
    messages, _counts, reports = read(path)
    assert len(articles(messages)) == 2
    (damage,) = [m for m in messages if isinstance(m, Refused)]
    assert damage.location == f"{path}@{warc.offsets[2]}"
    assert damage.error_type in {"corrupt_gzip", "corrupt_warc"}
    assert len(reports) == 1


def test_the_page_charset_wins_and_the_http_one_is_for_pages_without(tmp_path: Path) -> None:
    path = tmp_path / "charsets.warc"
    warc = WarcFile(path, gzip=False)
    declared = '<html><head><meta charset="utf-8"></head><body><p>Zürich</p></body></html>'
    warc.response(
        "https://a.example/1",
        declared.encode(),
        headers=(("Content-Type", "text/html; charset=iso-8859-1"),),
    )
    warc.response(
        "https://a.example/2",
        "<html><body><p>Zürich</p></body></html>".encode("latin-1"),
        headers=(("Content-Type", "text/html; charset=latin-1"),),
    )
    warc.close()
    first, second = articles(read(path)[0])
    assert "Zürich" in (first.html or "") and "Zürich" in (second.html or "")


def test_host_language_and_date_filters_and_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "filters.warc.gz"
    warc = WarcFile(path)
    english = seed_pages()[0][1]
    german = (
        "<html lang='de'><body><p>Die Regierung hat am Montag beschlossen, dass die "
        "Schulen wieder geöffnet werden.</p></body></html>"
    ).encode()
    dated = english.replace(
        b"<head>",
        b'<head><meta property="article:published_time" content="2019-03-02T08:00:00+00:00">',
    )
    warc.response("https://news.bbc.example/1", english)
    warc.response("https://www.other.example/2", english + b" ")
    warc.response("https://www.bbc.example/3", german)
    warc.response("https://bbc.example/4", dated, date="2020-06-01T00:00:00Z")
    warc.close()

    by_host, counts, _ = read(path, selection=Selection(hosts=("bbc.example",)))
    assert [a.url for a in articles(by_host)] == [
        "https://news.bbc.example/1",
        "https://www.bbc.example/3",
        "https://bbc.example/4",
    ]
    assert counts.skipped == {"other_host": 1}
    wildcard = read(path, selection=Selection(hosts=("OTHER.*",)))[0]
    assert [a.url for a in articles(wildcard)] == ["https://www.other.example/2"]

    in_german, counts, _ = read(path, selection=Selection(languages=("de",)))
    assert [a.url for a in articles(in_german)] == ["https://www.bbc.example/3"]
    assert counts.skipped == {"other_language": 3}

    # The page's date, not the record's: published 2019, archived 2020.
    until_2019 = read(path, selection=Selection(until=datetime(2019, 12, 31, tzinfo=UTC)))[0]
    assert [a.url for a in articles(until_2019)] == ["https://bbc.example/4"]
    since_2020, counts, _ = read(path, selection=Selection(since=datetime(2020, 1, 1, tzinfo=UTC)))
    assert len(articles(since_2020)) == 3 and counts.skipped == {"before_since": 1}

    limited, counts, _ = read(path, limit=2)
    assert len(articles(limited)) == 2 and counts.read == 2


def test_a_checkpoint_resumes_after_the_last_record_published(tmp_path: Path) -> None:
    path = tmp_path / "resume.warc.gz"
    write_mixed_archive(path)
    checkpoints = ReplayCheckpoints(tmp_path / "replay")
    first, _, _ = read(path, limit=2, checkpoints=checkpoints)
    assert len(articles(first)) == 2
    last = first[-1]
    assert isinstance(last, Outbound) and last.position is not None
    checkpoints.save(last.position)  # what the publisher does once the broker has them

    rest, _, reports = read(path, checkpoints=ReplayCheckpoints(tmp_path / "replay"))
    assert [a.url for a in articles(rest)] == [
        f"https://www.news{n}.example/world/{n}" for n in range(2, 5)
    ]
    assert any(f"resuming {path} after {last.position.records} records" in line for line in reports)
    # The file read to its end (damage included) is given back for its checkpoint.
    done = rest[-1]
    assert isinstance(done, FilePosition) and done.complete and done.path == path
    checkpoints.save(done)
    again, _, reports = read(path, checkpoints=ReplayCheckpoints(tmp_path / "replay"))
    assert again == [] and any("replayed to its end already" in line for line in reports)

    from_start = read(path, checkpoints=ReplayCheckpoints(tmp_path / "replay", from_start=True))[0]
    assert len(articles(from_start)) == 5
    # Another selection has checkpoints of its own.
    other = read(path, checkpoints=ReplayCheckpoints(tmp_path / "replay", "hosts=x"))[0]
    assert len(articles(other)) == 5


def test_a_checkpoint_of_a_changed_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "changed.warc"
    warc = WarcFile(path, gzip=False)
    warc.response("https://a.example/1", seed_pages()[0][1])
    warc.close()
    checkpoints = ReplayCheckpoints(tmp_path / "replay")
    checkpoints.save(FilePosition(path, path.stat().st_size, 1, complete=True))
    assert read(path, checkpoints=checkpoints)[0] == []
    with path.open("ab") as out:
        out.write(b"\r\n")
    assert len(articles(read(path, checkpoints=checkpoints)[0])) == 1


def test_a_jsonl_resumes_at_its_line(tmp_path: Path) -> None:
    import gzip

    import orjson

    path = tmp_path / "lines.jsonl.gz"
    path.write_bytes(
        gzip.compress(
            b"".join(
                orjson.dumps({"id": f"n{n}", "text": f"Article {n}."}) + b"\n" for n in range(6)
            )
        )
    )
    checkpoints = ReplayCheckpoints(tmp_path / "replay")
    first = read(path, limit=4, checkpoints=checkpoints)[0]
    assert isinstance(first[-1], Outbound) and first[-1].position is not None
    checkpoints.save(first[-1].position)
    rest = read(path, checkpoints=checkpoints)[0]
    assert [(a.id, a.provenance) for a in articles(rest)] == [
        ("n4", f"file:{path}:5"),
        ("n5", f"file:{path}:6"),
    ]


def test_standard_input_and_globs(tmp_path: Path) -> None:
    write_mixed_archive(tmp_path / "a.warc.gz")
    write_mixed_archive(tmp_path / "b.warc")
    counts = ReplayCounts()
    stdin = io.BufferedReader(io.BytesIO((tmp_path / "a.warc.gz").read_bytes()))
    reader = Reader(Settings(), counts, lambda _line: None, stdin=stdin)
    assert len(articles(list(reader.read([STDIN])))) == 5
    assert dict(counts.skipped) == SKIPPED
    globbed = read(tmp_path / "*.warc*")[0]
    assert len(articles(globbed)) == 5  # b.warc repeats a.warc.gz's pages
    with pytest.raises(ValueError, match="no such file"):
        read(tmp_path / "*.jsonl")


def test_the_pacer_spaces_articles_to_the_rate() -> None:
    import asyncio
    import time

    from newswire.replay.inputs import Pacer

    async def send(count: int, rate: float) -> float:
        pacer = Pacer(rate)
        started = time.monotonic()
        for _ in range(count):
            await pacer.wait()
        return time.monotonic() - started

    # The first goes at once, each next one 1/rate later.
    assert asyncio.run(send(11, 50.0)) >= 10 / 50
