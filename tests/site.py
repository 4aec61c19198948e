"""A small news site on loopback for the follower's tests and benchmark: routes, and a log
of every request it was sent (when, to which host, with which headers)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the site answers on one path."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: bool = False
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    encoding: str | None = None


@dataclass(frozen=True)
class Request:
    """One request the site received."""

    host: str
    path: str
    started: float
    ended: float
    headers: dict[str, str]
    status: int


@dataclass
class Site:
    """Routes served by a loopback HTTP server, and the log of requests."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    active: Counter[str] = field(default_factory=Counter)
    most_active: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        """The paths requested, in order."""
        return [request.path for request in self.log]

    def hits(self, path: str) -> int:
        return sum(request.path == path for request in self.log)

    def smallest_gap(self, host: str | None = None) -> float:
        """The shortest time from the end of one request to the start of the next, per host."""
        by_host: dict[str, list[Request]] = {}
        for request in self.log:
            if host is None or request.host == host:
                by_host.setdefault(request.host, []).append(request)
        gaps = [
            later.started - earlier.ended
            for requests in by_host.values()
            for earlier, later in zip(
                sorted(requests, key=lambda r: r.started),
                sorted(requests, key=lambda r: r.started)[1:],
                strict=False,
            )
        ]
        return min(gaps, default=float("inf"))


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        answered = 0.0

        def do_GET(self) -> None:
            host = self.headers.get("Host", "").split(":")[0] or self.connection.getsockname()[0]
            started = self.answered = time.monotonic()
            with site.lock:
                site.active[host] += 1
                site.most_active[host] = max(site.most_active[host], site.active[host])
            try:
                status = self._answer(site.routes.get(self.path))
            finally:
                with site.lock:
                    site.active[host] -= 1
                    site.log.append(
                        Request(host, self.path, started, self.answered, dict(self.headers), status)
                    )

        def _answer(self, route: Route | None) -> int:
            if route is None:
                self._send(404, b"not found", "text/plain", {})
                return 404
            time.sleep(route.delay)
            etag = f'"{hashlib.sha1(route.body).hexdigest()[:12]}"' if route.etag else None
            if (etag and self.headers.get("If-None-Match") == etag) or (
                route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            ):
                self._send(304, b"", None, {})
                return 304
            headers = dict(route.headers)
            if etag:
                headers["ETag"] = etag
            if route.last_modified:
                headers["Last-Modified"] = route.last_modified
            if route.encoding:
                headers["Content-Encoding"] = route.encoding
            self._send(route.status, route.body, route.content_type, headers)
            return route.status

        def _send(
            self, status: int, body: bytes, content_type: str | None, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            # Timed before the last write: the client can have the answer as soon as it is
            # written, while this thread may wait a GIL switch (5 ms) to read the clock again.
            self.answered = time.monotonic()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(address: str = "127.0.0.1", port: int = 0, site: Site | None = None) -> Iterator[Site]:
    """A site served from a thread on ``address``; its base URL uses that address."""
    served = site or Site()
    server = ThreadingHTTPServer((address, port), handler_for(served))
    server.daemon_threads = True
    served.base = served.base or f"http://{address}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Item:
    """One feed entry; ``path`` is its article page on the site."""

    title: str
    path: str
    summary: str = ""
    date: str = "Tue, 03 Jun 2025 09:30:00 GMT"


def rss(url: Callable[[str], str], title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"""
    <item>
      <title>{escape(item.title)}</title>
      <link>{url(item.path)}</link>
      <guid isPermaLink="true">{url(item.path)}</guid>
      <pubDate>{item.date}</pubDate>
      {f"<description>{escape(item.summary)}</description>" if item.summary else ""}
    </item>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(title)}</title>
    <link>{url("/")}</link>
    <description>Local news</description>{entries}
  </channel>
</rss>""".encode()


def atom(url: Callable[[str], str], title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"""
  <entry>
    <title>{escape(item.title)}</title>
    <link rel="alternate" href="{url(item.path)}"/>
    <id>tag:harbour.example,2025:{item.path}</id>
    <updated>{item.date}</updated>
    <summary type="html">{escape(item.summary)}</summary>
  </entry>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{escape(title)}</title>
  <id>tag:harbour.example,2025:feed</id>
  <updated>2025-06-03T12:00:00Z</updated>{entries}
</feed>""".encode()


def page(headline: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{headline} | Valley News</title></head>"
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{headline}</h1>{body}"
        f"</article><footer>© Valley News</footer></body></html>"
    )


DELAY = 0.05
"""The follower's delay between requests to one host, in the tests."""

LOOPBACK_FOLLOWING = {
    "follow_allow_loopback": True,
    "follow_min_delay_seconds": DELAY,
    "follow_timeout_seconds": 2,
}
"""Settings that let a follower fetch from this site, with short delays."""

RSS_ITEMS = [
    Item(
        "Council & port agree on new ferry timetable",
        "/2025/06/ferry.html",
        "The ferry will run every hour from July.",
    ),
    Item(
        "Flood barrier tested ahead of autumn storms",
        "/2025/06/barrier.html",
        "Engineers closed the barrier for two hours.",
        "Tue, 03 Jun 2025 11:05:00 +0200",
    ),
]
ATOM_ITEMS = [
    Item(
        "Harbour museum reopens after repairs",
        "/harbour/museum.html",
        "<p>The museum reopened on Monday.</p>",
        "2025-06-02T08:00:00Z",
    ),
]
PAGES = {
    "/2025/06/ferry.html": page(
        "Council and port agree on new ferry timetable",
        "The council and the port authority agreed on Monday to run the ferry every hour.",
    ),
    "/2025/06/barrier.html": page(
        "Flood barrier tested ahead of autumn storms",
        "Engineers closed the flood barrier for two hours on Tuesday morning.",
    ),
    "/harbour/museum.html": page(
        "Harbour museum reopens after repairs",
        "The harbour museum reopened on Monday after eight months of roof repairs.",
    ),
}


def serve_news(site: Site, robots: str = "User-agent: *\nAllow: /\n") -> None:
    site.routes["/robots.txt"] = Route(robots.encode(), "text/plain")
    site.routes["/rss.xml"] = Route(
        rss(site.url, "Valley News", RSS_ITEMS), "application/rss+xml; charset=utf-8", etag=True
    )
    site.routes["/atom.xml"] = Route(
        atom(site.url, "Harbour Gazette", ATOM_ITEMS),
        "application/atom+xml",
        last_modified="Tue, 03 Jun 2025 12:00:00 GMT",
    )
    for path, html in PAGES.items():
        site.routes[path] = Route(html.encode())
