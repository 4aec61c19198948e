"""Following feeds over real HTTP servers on loopback, and publishing to a real broker."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiokafka import AIOKafkaProducer

from newswire.broker import bootstrap_servers, free_port
from newswire.feeds import FeedFollower, FeedState, RecentKeys
from newswire.inputs import Outbound, stable_id
from newswire.settings import Settings
from newswire.watch import consume
from schemas.records import RawArticle
from schemas.topics import RAW

# ------------------------------------------------------------------ a small news site


@dataclass
class Route:
    """What the site answers on one path."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: bool = False
    last_modified: str | None = None


@dataclass
class Site:
    """Routes served by a loopback HTTP server, with request counters."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, counter: Counter[str], path: str) -> None:
        with self.lock:
            counter[path] += 1


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.count(site.hits, self.path)
            route = site.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            etag = f'"{hashlib.sha1(route.body).hexdigest()[:12]}"' if route.etag else None
            if (etag and self.headers.get("If-None-Match") == etag) or (
                route.last_modified
                and self.headers.get("If-Modified-Since") == route.last_modified
            ):
                site.count(site.not_modified, self.path)
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            if etag:
                self.send_header("ETag", etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    """A news site on 127.0.0.1 (a random port), served from a thread."""
    served = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(served))
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
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


def rss(site: Site, title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"""
    <item>
      <title>{escape(item.title)}</title>
      <link>{site.url(item.path)}</link>
      <guid isPermaLink="true">{site.url(item.path)}</guid>
      <pubDate>{item.date}</pubDate>
      {f"<description>{escape(item.summary)}</description>" if item.summary else ""}
    </item>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(title)}</title>
    <link>{site.url("/")}</link>
    <description>Local news</description>{entries}
  </channel>
</rss>""".encode()


def atom(site: Site, title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"""
  <entry>
    <title>{escape(item.title)}</title>
    <link rel="alternate" href="{site.url(item.path)}"/>
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
    return (f"<!DOCTYPE html><html><head><title>{headline} | Valley News</title></head>"
            f"<body><nav><a href='/'>Home</a></nav><article><h1>{headline}</h1>{body}"
            f"</article><footer>© Valley News</footer></body></html>")


RSS_ITEMS = [
    Item("Council & port agree on new ferry timetable", "/2025/06/ferry.html",
         "The ferry will run every hour from July."),
    Item("Flood barrier tested ahead of autumn storms", "/2025/06/barrier.html",
         "Engineers closed the barrier for two hours.", "Tue, 03 Jun 2025 11:05:00 +0200"),
]
ATOM_ITEMS = [
    Item("Harbour museum reopens after repairs", "/harbour/museum.html",
         "<p>The museum reopened on Monday.</p>", "2025-06-02T08:00:00Z"),
]
PAGES = {
    "/2025/06/ferry.html": page(
        "Council and port agree on new ferry timetable",
        "The council and the port authority agreed on Monday to run the ferry every hour.",
        "The new timetable starts in July, a spokeswoman said."),
    "/2025/06/barrier.html": page(
        "Flood barrier tested ahead of autumn storms",
        "Engineers closed the flood barrier for two hours on Tuesday morning.",
        "The test went as planned, according to the river authority."),
    "/harbour/museum.html": page(
        "Harbour museum reopens after repairs",
        "The harbour museum reopened on Monday after eight months of roof repairs."),
}


def serve_news(site: Site, *, etag: bool = False) -> None:
    site.routes["/rss.xml"] = Route(rss(site, "Valley News", RSS_ITEMS),
                                    "application/rss+xml; charset=utf-8", etag=etag)
    site.routes["/atom.xml"] = Route(atom(site, "Harbour Gazette", ATOM_ITEMS),
                                     "application/atom+xml", etag=etag)
    for path, html in PAGES.items():
        site.routes[path] = Route(html.encode())


def follower(settings: Settings, site: Site, *paths: str) -> FeedFollower:
    return FeedFollower(settings, [site.url(path) for path in paths], interval=0.05, timeout=5)


def articles(messages: list[Outbound]) -> dict[str, RawArticle]:
    """The articles by url, checking each message is keyed by its article id."""
    parsed = [RawArticle.from_json(message.value) for message in messages]
    assert [message.key for message in messages] == [article.id for article in parsed]
    return {article.url or "": article for article in parsed}


# ------------------------------------------------------------------ polling


def test_first_poll_returns_every_entry_with_its_page(site: Site) -> None:
    serve_news(site)
    found = articles(asyncio.run(follower(Settings(), site, "/rss.xml", "/atom.xml").poll_once()))

    expected = {site.url(item.path): (item, feed) for items, feed in (
        (RSS_ITEMS, "Valley News"), (ATOM_ITEMS, "Harbour Gazette")) for item in items}
    assert found.keys() == expected.keys()
    for url, (item, feed) in expected.items():
        article = found[url]
        assert article.id == stable_id(url=url)
        assert article.title == item.title
        assert article.source == feed
        assert article.html == PAGES[item.path] and article.text is None
    assert found[site.url("/2025/06/ferry.html")].published_at == datetime(
        2025, 6, 3, 9, 30, tzinfo=UTC)
    assert found[site.url("/2025/06/barrier.html")].published_at == datetime(
        2025, 6, 3, 9, 5, tzinfo=UTC)  # 11:05 at +02:00
    assert found[site.url("/harbour/museum.html")].published_at == datetime(
        2025, 6, 2, 8, 0, tzinfo=UTC)


def test_later_polls_return_only_new_entries(site: Site) -> None:
    serve_news(site)
    feeds = follower(Settings(), site, "/rss.xml")

    async def polls() -> list[list[Outbound]]:
        first = await feeds.poll_once()
        second = await feeds.poll_once()
        added = Item("Bridge closed for repairs", "/2025/06/bridge.html")
        site.routes[added.path] = Route(page(added.title, "The bridge closes on Friday.").encode())
        site.routes["/rss.xml"].body = rss(site, "Valley News", [added, *RSS_ITEMS])
        third = await feeds.poll_once()
        return [first, second, third, await feeds.poll_once()]

    first, second, third, fourth = asyncio.run(polls())
    assert len(first) == len(RSS_ITEMS)
    assert second == [] and fourth == []
    assert list(articles(third)) == [site.url("/2025/06/bridge.html")]
    assert site.hits["/2025/06/ferry.html"] == 1  # a page is fetched once


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_conditional_get_is_answered_not_modified(site: Site, validator: str) -> None:
    serve_news(site, etag=validator == "etag")
    feed = site.routes["/rss.xml"]
    if validator == "last-modified":
        feed.last_modified = "Tue, 03 Jun 2025 12:00:00 GMT"
    feeds = follower(Settings(), site, "/rss.xml")

    async def polls() -> list[list[Outbound]]:
        results = [await feeds.poll_once(), await feeds.poll_once()]
        added = Item("Market hall gets a new roof", "/2025/06/market.html")
        site.routes[added.path] = Route(page(added.title, "Work starts in August.").encode())
        feed.body = rss(site, "Valley News", [added, *RSS_ITEMS])
        feed.last_modified = feed.last_modified and "Wed, 04 Jun 2025 08:00:00 GMT"
        results.append(await feeds.poll_once())
        return results

    first, second, third = asyncio.run(polls())
    assert len(first) == len(RSS_ITEMS) and second == []
    assert site.hits["/rss.xml"] == 3
    assert site.not_modified["/rss.xml"] == 1  # only the second poll: the third saw a change
    assert list(articles(third)) == [site.url("/2025/06/market.html")]


@pytest.mark.parametrize("status", [404, 500])
def test_unavailable_page_falls_back_to_the_entry_summary(site: Site, status: int) -> None:
    serve_news(site)
    site.routes["/2025/06/ferry.html"].status = status
    site.routes["/harbour/museum.html"].status = status
    found = articles(asyncio.run(follower(Settings(), site, "/rss.xml", "/atom.xml").poll_once()))

    ferry = found[site.url("/2025/06/ferry.html")]
    assert ferry.html is None and ferry.text == "The ferry will run every hour from July."
    assert ferry.title == RSS_ITEMS[0].title
    museum = found[site.url("/harbour/museum.html")]  # an HTML summary becomes plain text
    assert museum.html is None and museum.text == "The museum reopened on Monday."
    assert found[site.url("/2025/06/barrier.html")].html == PAGES["/2025/06/barrier.html"]


def test_entry_without_page_or_summary_waits_for_the_next_poll(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    bare = Item("Library hours extended", "/2025/06/library.html")
    site.routes["/rss.xml"] = Route(rss(site, "Valley News", [bare]), "application/rss+xml",
                                    etag=True)
    feeds = follower(Settings(), site, "/rss.xml")

    async def polls() -> list[list[Outbound]]:
        with caplog.at_level(logging.WARNING, logger="newswire.feeds"):
            missing = await feeds.poll_once()
        site.routes[bare.path] = Route(page(bare.title, "The library opens until 9 pm.").encode())
        return [missing, await feeds.poll_once()]

    missing, retried = asyncio.run(polls())
    assert missing == []
    assert any("Library hours extended" in message and "skipped" in message
               for message in caplog.messages)
    assert site.not_modified["/rss.xml"] == 0  # the feed was read again, not "not modified"
    assert articles(retried)[site.url(bare.path)].html == page(
        bare.title, "The library opens until 9 pm.")


def test_failing_feeds_do_not_stop_the_others(site: Site) -> None:
    serve_news(site)
    site.routes["/broken.xml"] = Route(b"Internal error", "text/plain", status=500)
    site.routes["/garbage.xml"] = Route(b"\x89PNG\r\n not a feed <<<", "application/rss+xml")
    closed = f"http://127.0.0.1:{free_port()}/rss.xml"
    feeds = FeedFollower(Settings(), [site.url("/broken.xml"), site.url("/garbage.xml"), closed,
                                      site.url("/atom.xml")], interval=10, timeout=5)

    found = articles(asyncio.run(feeds.poll_once()))
    assert list(found) == [site.url("/harbour/museum.html")]
    assert [feed.failures for feed in feeds.feeds] == [1, 1, 1, 0]


def test_page_charset_from_the_content_type_header(site: Site) -> None:
    item = Item("Café owners welcome the new market", "/2025/06/cafe.html")
    html = page(item.title, "“Business is up,” said the owner of Café Noël – for now.")
    site.routes["/rss.xml"] = Route(rss(site, "Valley News", [item]), "application/rss+xml")
    site.routes[item.path] = Route(html.encode("windows-1252"),
                                   "text/html; charset=windows-1252")
    found = articles(asyncio.run(follower(Settings(), site, "/rss.xml").poll_once()))
    assert found[site.url(item.path)].html == html


def test_backoff_doubles_per_failure_up_to_the_limit() -> None:
    feeds = FeedFollower(Settings(), [], interval=10, jitter=0.0, max_backoff=60)
    feed = FeedState("http://example.org/rss", 10, RecentKeys(5))
    assert feeds.next_delay(feed) == 10
    feed.failures = 2
    assert feeds.next_delay(feed) == 40
    feed.failures = 5
    assert feeds.next_delay(feed) == 60


def test_recent_keys_forget_the_oldest() -> None:
    keys = RecentKeys(2)
    for key in ("a", "b", "a", "c"):
        keys.add(key)
    assert "a" in keys and "c" in keys and "b" not in keys and len(keys) == 2


# ------------------------------------------------------------------ publishing

END_MARKER = b"end-of-test"


async def mark_end(settings: Settings, topic: str) -> int:
    """Append an end marker to each partition of ``topic``; return how many were sent.

    Reading until every marker is seen reads the whole topic (end offsets are
    not reliable on the embedded broker).
    """
    assert settings.broker_url
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(settings.broker_url))
    await producer.start()
    try:
        partitions = await producer.partitions_for(topic)
        for number in partitions:
            await producer.send_and_wait(topic, END_MARKER, key=END_MARKER, partition=number)
        return len(partitions)
    finally:
        await producer.stop()


def test_run_publishes_each_entry_once_to_the_raw_topic(
    site: Site, pipeline_settings: Settings
) -> None:
    serve_news(site)
    feeds = follower(pipeline_settings, site, "/rss.xml", "/atom.xml")
    topic = RAW.name(pipeline_settings.topic_prefix)

    async def follow_then_read() -> list[tuple[bytes | None, bytes]]:
        stop = asyncio.Event()
        running = asyncio.create_task(feeds.run(stop))
        while min(site.hits["/rss.xml"], site.hits["/atom.xml"]) < 3:  # three polls each
            await asyncio.sleep(0.02)
        stop.set()
        await running
        markers = await mark_end(pipeline_settings, topic)
        records: list[tuple[bytes | None, bytes]] = []
        async for _topic, key, value in consume(pipeline_settings, [topic]):
            if key == END_MARKER:
                markers -= 1
                if markers == 0:
                    return records
            else:
                records.append((key, value))
        return records

    records = asyncio.run(asyncio.wait_for(follow_then_read(), 20))
    urls = [site.url(item.path) for item in (*RSS_ITEMS, *ATOM_ITEMS)]
    assert len(records) == len(urls)
    published = {RawArticle.from_json(value).url: key for key, value in records}
    assert published == {url: stable_id(url=url).encode() for url in urls}
