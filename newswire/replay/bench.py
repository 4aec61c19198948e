"""Benchmark of replaying a web archive: ``python -m newswire.replay.bench``.

Generates a CC-NEWS-like ``.warc.gz`` with warcio (one gzip member per record:
a warcinfo record, then HTML 200 responses of news pages among redirects, 404s
and non-HTML responses) and measures, on the same file in the same run:

1. warcio's own iteration, every payload read and decoded: records per second;
2. the replay reader (newswire's WARC reading, decoding, ids, the messages):
   records per second, and the ratio to warcio's;
3. the reader with ``--since`` and ``--language`` (htmldate and the language
   check on every page);
4. reading and publishing through an embedded broker: records per second;
5. the reader's peak memory (tracemalloc) over the first 1,000, 10,000 and
   100,000 records (those the archive has), in one reading: it must not grow
   with the file but for the table of ids and content hashes that tells repeats from
   revisions, which grows with the distinct ids up to ``Settings.replay_seen_articles``
   (see :mod:`newswire.replay.seen`) and is reported apart.

Reading must never limit a replay: at least ten times the two-worker pipeline's
sustained rate (about 37 articles/s), so 370 records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newswire.replay.filter import Selection
from newswire.replay.inputs import Reader, ReplayCounts
from schemas.settings import Settings

PIPELINE_ARTICLES_PER_S = 37.0
"""The two-worker pipeline's sustained rate (``newswire bench``)."""
REQUIRED_FACTOR = 10
MEMORY_AT_RECORDS = (1_000, 10_000, 100_000)
"""The reader's peak memory is measured over this many records (those the archive has)."""
_SAMPLE_TEXT = (
    "the minister said on monday that the government would review its plans for "
    "the city after police reported a rise in cases while officials in the region "
    "warned of delays to the new rail line and schools"
)
_WORDS = _SAMPLE_TEXT.split()


def news_page(number: int, rng: random.Random, published: datetime) -> bytes:
    """A news page of about 20 KB: head with metadata, navigation, article, footer."""
    paragraphs = "".join(
        f"<p>{' '.join(rng.choices(_WORDS, k=rng.randint(25, 60)))}.</p>"
        for _ in range(rng.randint(12, 30))
    )
    links = "".join(f'<li><a href="/section/{n}">Section {n}</a></li>' for n in range(40))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Story {number}'
        f' | The Daily Example</title><meta property="article:published_time" content="'
        f'{published.isoformat()}"></head><body><nav><ul>{links}</ul></nav><article>'
        f"<h1>Story {number}: {' '.join(rng.choices(_WORDS, k=8))}</h1>{paragraphs}"
        f"</article><footer>© The Daily Example</footer></body></html>"
    ).encode()


def write_cc_news(path: Path, records: int, seed: int = 7) -> None:
    """A CC-NEWS-like ``.warc.gz`` of ``records`` records (the warcinfo among them)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "bench"}))
        for number in range(1, records):
            fetched = start + timedelta(seconds=30 * number)
            url = f"https://www.site{number % 200}.example/news/{number}"
            kind = rng.random()
            if kind < 0.9:
                status, headers = "200 OK", [("Content-Type", "text/html; charset=utf-8")]
                body = news_page(number, rng, fetched - timedelta(hours=rng.randint(0, 72)))
            elif kind < 0.95:
                status, headers, body = "301 Moved Permanently", [("Location", url + "/")], b""
            elif kind < 0.98:
                status, headers, body = "404 Not Found", [("Content-Type", "text/html")], b"-"
            else:
                status, headers, body = (
                    "200 OK",
                    [("Content-Type", "application/pdf")],
                    bytes(rng.randrange(256) for _ in range(5000)),
                )
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    url,
                    "response",
                    payload=io.BytesIO(body),
                    http_headers=http,
                    warc_headers_dict={"WARC-Date": fetched.strftime("%Y-%m-%dT%H:%M:%SZ")},
                )
            )


def warcio_rate(path: Path) -> float:
    """Records per second of warcio's iteration, each payload read (encodings undone)."""
    started, count = time.perf_counter(), 0
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            record.content_stream().read()
            count += 1
    return count / (time.perf_counter() - started)


def reader_rate(path: Path, selection: Selection | None = None) -> tuple[float, ReplayCounts]:
    """Records per second of the replay reader alone, and what it counted."""
    counts = ReplayCounts()
    reader = Reader(Settings(), counts, lambda _line: None, selection=selection)
    started = time.perf_counter()
    for _message in reader.read([path]):
        pass
    return counts.read / (time.perf_counter() - started), counts


def reader_peak_memory(path: Path, records: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Peak bytes the reader allocates over the first ``records`` records (each count,
    in one reading), and the bytes of its table of content seen then (part of the peak)."""
    counts = ReplayCounts()
    due = sorted(records)
    peaks: dict[int, tuple[int, int]] = {}

    def measure(_path: Path, _offset: int) -> None:
        while due and counts.read >= due[0]:
            peaks[due.pop(0)] = (tracemalloc.get_traced_memory()[1], reader.table_bytes)

    tracemalloc.start()
    reader = Reader(Settings(), counts, lambda _line: None, on_record=measure)
    try:
        for _message in reader.read([path]):
            pass
    finally:
        tracemalloc.stop()
    return peaks


def publish_rate(path: Path) -> tuple[float, int]:
    """Records per second of reading and publishing through an embedded broker, and the
    articles the broker took."""
    from agents.runtime.broker import EmbeddedBroker, ensure_topics_sync
    from newswire.replay.inputs import publish

    with EmbeddedBroker() as broker:
        settings = Settings(broker_url=broker.url, topic_prefix="replaybench")
        ensure_topics_sync(settings)
        counts = ReplayCounts()
        messages = Reader(settings, counts, lambda _line: None).read([path])
        started = time.perf_counter()
        published = asyncio.run(publish(settings, messages, counts))
        return counts.read / (time.perf_counter() - started), published


def run(records: int, say: Callable[[str], None] = print) -> dict[str, object]:
    """Generate the archive, measure, and return the report."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "CC-NEWS-bench.warc.gz"
        write_cc_news(path, records)
        say(f"generated {records:,} records, {path.stat().st_size / 1e6:,.1f} MB")
        warcio = warcio_rate(path)
        reader, counts = reader_rate(path)
        filtered, _ = reader_rate(
            path, Selection(since=datetime(2024, 1, 1, tzinfo=UTC), languages=("en",))
        )
        published_rate, published = publish_rate(path)
        peaks = reader_peak_memory(path, {min(count, records) for count in MEMORY_AT_RECORDS})
    first = min(peaks)
    report: dict[str, object] = {
        "records": records,
        "articles": published,
        "skipped": dict(counts.skipped),
        "warcio_records_per_s": round(warcio),
        "reader_records_per_s": round(reader),
        "reader_to_warcio_ratio": round(reader / warcio, 3),
        "reader_filtered_records_per_s": round(filtered),
        "read_and_publish_records_per_s": round(published_rate),
        "required_records_per_s": PIPELINE_ARTICLES_PER_S * REQUIRED_FACTOR,
        "reader_peak_bytes": {str(count): peak for count, (peak, _) in peaks.items()},
        "reader_table_bytes": {str(count): table for count, (_, table) in peaks.items()},
        "reader_peak_growth_bytes_per_record": round(
            (peaks[records][0] - peaks[first][0]) / max(records - first, 1)
        ),
    }
    say(f"warcio iteration:  {warcio:,.0f} records/s")
    say(f"replay reader:     {reader:,.0f} records/s ({reader / warcio:.2f} x warcio)")
    say(f"with --since --language: {filtered:,.0f} records/s")
    say(
        f"read and publish:  {published_rate:,.0f} records/s ({published:,} articles); "
        f"required {PIPELINE_ARTICLES_PER_S * REQUIRED_FACTOR:,.0f}"
    )
    say(
        "reader peak memory: "
        + ", ".join(
            f"{peak / 1e6:,.2f} MB over {count:,} records (its table {table / 1e6:,.2f} MB)"
            for count, (peak, table) in peaks.items()
        )
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m newswire.replay.bench [--records N] [--json FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m newswire.replay.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--records",
        type=int,
        default=10_000,
        help="records in the generated archive (default 10,000; 100,000 "
        "to see the reader's memory at 1,000, 10,000 and 100,000)",
    )
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = run(args.records)
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
