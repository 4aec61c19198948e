"""WARC files for the tests, written with warcio: every kind of record an archive holds."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.conftest import SEEDS

WARC_DATE = "2020-05-28T10:00:00Z"


def seed_pages() -> list[tuple[str, bytes]]:
    """The five seed articles as HTML pages: (title, page)."""
    pages = []
    for path in sorted(SEEDS.glob("*.txt")):
        first_line, _, body = path.read_text().partition("\n")
        title = first_line.strip()
        paragraphs = "".join(f"<p>{p.strip()}</p>" for p in body.split("\n\n") if p.strip())
        pages.append(
            (
                title,
                f"<html><head><title>{title}</title></head><body><article>"
                f"<h1>{title}</h1>{paragraphs}</article></body></html>".encode(),
            )
        )
    return pages


@dataclass
class WarcFile:
    """A WARC being written; ``offsets`` are where each record starts."""

    path: Path
    gzip: bool = True
    offsets: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._out = self.path.open("wb")
        self._writer = WARCWriter(self._out, gzip=self.gzip)

    def response(
        self,
        url: str,
        body: bytes,
        status: str = "200 OK",
        headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html"),),
        date: str = WARC_DATE,
        record_type: str = "response",
    ) -> None:
        http = StatusAndHeaders(status, list(headers), protocol="HTTP/1.1")
        self.write(
            self._writer.create_warc_record(
                url,
                record_type,
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )
        )

    def request(self, url: str) -> None:
        http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True)
        self.write(
            self._writer.create_warc_record(
                url, "request", payload=io.BytesIO(b""), http_headers=http
            )
        )

    def metadata(self, url: str) -> None:
        self.write(
            self._writer.create_warc_record(
                url,
                "metadata",
                payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
                warc_content_type="application/warc-fields",
            )
        )

    def warcinfo(self) -> None:
        self.write(self._writer.create_warcinfo_record(self.path.name, {"software": "tests"}))

    def revisit(self, url: str) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        self.write(
            self._writer.create_revisit_record(
                url,
                digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                refers_to_uri=url,
                refers_to_date=WARC_DATE,
                http_headers=http,
            )
        )

    def write(self, record: object) -> None:
        self.offsets.append(self._out.tell())
        self._writer.write_record(record)

    def close(self, cut_last_by: int = 0) -> Path:
        """Close the file, its last record cut short by ``cut_last_by`` bytes."""
        self._out.close()
        if cut_last_by:
            data = self.path.read_bytes()
            self.path.write_bytes(data[:-cut_last_by])
        return self.path


def chunked(body: bytes, size: int = 100) -> bytes:
    """``body`` in HTTP/1.1 chunks."""
    chunks = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def write_mixed_archive(path: Path, gzipped: bool = True) -> tuple[WarcFile, list[str]]:
    """A WARC of the five seed pages among every other kind of record, its last record
    (a sixth page) cut short; with the URLs of the five pages."""
    warc = WarcFile(path, gzipped)
    pages = seed_pages()
    urls = [f"https://www.news{n}.example/world/{n}" for n in range(len(pages))]
    warc.warcinfo()
    warc.request(urls[0])
    warc.response(urls[0], pages[0][1], headers=(("Content-Type", "text/html; charset=utf-8"),))
    warc.metadata(urls[0])
    warc.response(
        urls[1],
        chunked(pages[1][1]),
        headers=(("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")),
    )
    warc.response(
        urls[2],
        gzip.compress(pages[2][1]),
        headers=(("Content-Type", "application/xhtml+xml"), ("Content-Encoding", "gzip")),
    )
    latin1 = (
        pages[3][1]
        .replace(b"</h1>", "</h1><p>Caf\u00e9 de la Paix, d\u00e9j\u00e0 vu.</p>".encode())
        .decode()
        .encode("cp1252", "replace")
    )
    warc.response(urls[3], latin1, headers=(("Content-Type", "text/html; charset=windows-1252"),))
    warc.response(
        "https://www.news0.example/missing", b"<html>Not found</html>", status="404 Not Found"
    )
    warc.response(
        "https://www.news0.example/old",
        b"",
        status="301 Moved Permanently",
        headers=(("Location", urls[0]),),
    )
    warc.response(
        "https://www.news0.example/logo.png",
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        headers=(("Content-Type", "image/png"),),
    )
    warc.revisit(urls[0])
    warc.response(urls[4], pages[4][1], headers=(("Content-Type", "text/html"),))
    warc.response("https://www.news5.example/cut", pages[0][1] * 3)
    warc.close(cut_last_by=500)
    return warc, urls
