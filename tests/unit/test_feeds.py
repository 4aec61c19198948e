"""Following news sites over real HTTP servers on loopback; each behaviour is asserted
from the server's own request log, and publishing from a real broker."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.runtime.broker import free_port
from newswire.follow.feeds import FeedFollower, MemorySink
from newswire.follow.fetch import FetchError, check_url
from newswire.follow.politeness import retry_after
from newswire.follow.state import FollowState
from newswire.replay.inputs import stable_id
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.conftest import PROJECT
from tests.site import (
    ATOM_ITEMS,
    LOOPBACK_FOLLOWING,
    PAGES,
    RSS_ITEMS,
    Item,
    Route,
    Site,
    atom,
    page,
    rss,
    serve_news,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Follower settings for loopback with short delays."""
    return Settings(
        data_dir=tmp_path / "data",
        follow_min_interval_seconds=0.01,
        follow_summary_after_seconds=3600,
    ).model_copy(update=LOOPBACK_FOLLOWING)


def follow_once(
    settings: Settings, *sources: str, interval: float = 0.01, source_list: Path | None = None
) -> list[RawArticle]:
    """One pass of a follower over ``sources``; the articles it published."""
    sink = MemorySink()
    follower = FeedFollower(
        settings,
        sources,
        sink,
        interval=interval,
        source_list=source_list,
        report=lambda _line: None,
    )
    asyncio.run(follower.run(once=True))
    parsed = [RawArticle.from_json(message.value) for message in sink.messages]
    assert [message.key for message in sink.messages] == [article.id for article in parsed]
    return parsed


def by_url(articles: list[RawArticle]) -> dict[str, RawArticle]:
    found = {article.url or "": article for article in articles}
    assert len(found) == len(articles), "an article was published twice"
    return found


# ------------------------------------------------------------------ sources


def test_first_pass_publishes_every_entry_with_its_page(site: Site, settings: Settings) -> None:
    serve_news(site)
    found = by_url(follow_once(settings, site.url("/rss.xml"), site.url("/atom.xml")))

    expected = {
        site.url(item.path): (item, feed)
        for items, feed in ((RSS_ITEMS, "Valley News"), (ATOM_ITEMS, "Harbour Gazette"))
        for item in items
    }
    assert found.keys() == expected.keys()
    for url, (item, feed) in expected.items():
        article = found[url]
        assert article.id == stable_id(url=url)
        assert (article.title, article.source) == (item.title, feed)
        assert article.html == PAGES[item.path] and article.text is None
        assert (article.revision, article.content_kind) == (1, "page")
    assert found[site.url("/2025/06/barrier.html")].published_at == datetime(
        2025, 6, 3, 9, 5, tzinfo=UTC
    )  # 11:05 at +02:00
    assert site.paths()[0] == "/robots.txt" and site.hits("/robots.txt") == 1
    agents = {request.headers["User-Agent"] for request in site.log}
    assert agents == {Settings().follow_user_agent} and "newswire" in agents.pop()


def test_home_page_feeds_and_robots_sitemaps_are_followed_within_the_rules(
    site: Site, settings: Settings
) -> None:
    serve_news(
        site,
        robots=f"User-agent: *\nDisallow: /news/\nCrawl-delay: 0.2\n"
        f"Sitemap: {site.url('/sitemap-index.xml')}\n",
    )
    blocked = [
        Item(f"Closed story {number}", f"/news/{number}.html", f"Summary {number}.")
        for number in range(5)
    ]
    site.routes["/rss.xml"].body = rss(site.url, "Valley News", [*RSS_ITEMS, *blocked])
    for item in blocked:
        site.routes[item.path] = Route(page(item.title, "Never to be fetched.").encode())
    site.routes["/"] = Route(
        b"""<!DOCTYPE html><html><head><title>Valley News</title>
        <link rel="alternate" type="application/rss+xml" href="/rss.xml"></head>
        <body><a href="/2025/06/ferry.html">Ferry</a></body></html>"""
    )
    site.routes["/sitemap-index.xml"] = Route(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{site.url("/news-sitemap.xml")}</loc></sitemap>
</sitemapindex>""".encode(),
        "application/xml",
    )
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.routes["/news-sitemap.xml"] = Route(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>{site.url("/harbour/museum.html")}</loc>
    <news:news><news:publication><news:name>Harbour Gazette</news:name>
      <news:language>en</news:language></news:publication>
      <news:publication_date>{today}</news:publication_date>
      <news:title>Harbour museum reopens</news:title></news:news></url>
  <url><loc>{site.url("/2025/06/old.html")}</loc><lastmod>2019-01-01</lastmod></url>
</urlset>""".encode(),
        "application/xml",
    )

    found = by_url(follow_once(settings, site.url("/")))

    pages = {site.url(item.path) for item in RSS_ITEMS} | {site.url("/harbour/museum.html")}
    summaries = {site.url(item.path) for item in blocked}
    assert found.keys() == pages | summaries
    assert all(found[url].content_kind == "page" for url in pages)
    museum = found[site.url("/harbour/museum.html")]
    assert (museum.title, museum.source) == ("Harbour museum reopens", "Harbour Gazette")
    for item in blocked:  # disallowed: the feed's summary, marked as such
        article = found[site.url(item.path)]
        assert (article.content_kind, article.text, article.html) == (
            "feed_summary",
            item.summary,
            None,
        )
    assert not [path for path in site.paths() if path.startswith("/news/")]
    assert site.hits("/2025/06/old.html") == 0  # older than follow_sitemap_days
    assert site.smallest_gap() >= 0.2  # the Crawl-delay, larger than the 0.05 s minimum
    assert max(site.most_active.values()) == 1


def test_restart_publishes_nothing_and_asks_only_for_changed_feeds(
    site: Site, settings: Settings
) -> None:
    serve_news(site)
    site.routes["/"] = Route(
        b"<!DOCTYPE html><html><head><link rel='alternate' "
        b"type='application/atom+xml' href='/atom.xml'></head></html>"
    )
    sources = site.url("/"), site.url("/rss.xml")
    assert len(follow_once(settings, *sources)) == len(RSS_ITEMS) + len(ATOM_ITEMS)
    first_run = len(site.log)

    assert follow_once(settings, *sources) == []
    again = site.log[first_run:]
    assert sorted(request.path for request in again) == ["/atom.xml", "/rss.xml"]
    assert all(request.status == 304 for request in again)
    assert {"If-None-Match", "If-Modified-Since"} & set(again[0].headers)


def test_an_article_in_two_feeds_is_fetched_and_published_once(
    site: Site, settings: Settings
) -> None:
    serve_news(site)
    site.routes["/atom.xml"].body = atom(site.url, "Harbour Gazette", [*ATOM_ITEMS, *RSS_ITEMS])
    found = by_url(follow_once(settings, site.url("/rss.xml"), site.url("/atom.xml")))
    assert len(found) == 3
    assert all(site.hits(path) == 1 for path in PAGES)


def test_a_changed_entry_is_published_as_the_next_revision(site: Site, settings: Settings) -> None:
    serve_news(site)
    feed = site.url("/rss.xml")
    assert len(follow_once(settings, feed)) == 2
    ferry = RSS_ITEMS[0]
    updated = Item(ferry.title, ferry.path, "Timetable corrected.", "Wed, 04 Jun 2025 10:00:00 GMT")
    site.routes["/rss.xml"].body = rss(site.url, "Valley News", [updated, RSS_ITEMS[1]])
    corrected = page(ferry.title, "The ferry will run every 90 minutes, not every hour.")
    site.routes[ferry.path] = Route(corrected.encode())

    [article] = follow_once(settings, feed)
    assert (article.url, article.revision, article.html) == (site.url(ferry.path), 2, corrected)
    assert site.hits(RSS_ITEMS[1].path) == 1  # unchanged: not fetched again

    site.routes["/rss.xml"].body = rss(
        site.url,
        "Valley News",
        [Item(ferry.title, ferry.path, "Same page.", "Thu, 05 Jun 2025 10:00:00 GMT")],
    )
    assert follow_once(settings, feed) == []  # fetched again, but the same content
    assert site.hits(ferry.path) == 3


def test_list_file_of_sources_opml_or_lines(site: Site, settings: Settings, tmp_path: Path) -> None:
    serve_news(site)
    opml = tmp_path / "feeds.opml"
    opml.write_text(f"""<?xml version="1.0"?><opml version="2.0"><body>
        <outline text="news"><outline type="rss" xmlUrl="{site.url("/atom.xml")}"/></outline>
        </body></opml>""")
    assert [a.url for a in follow_once(settings, source_list=opml)] == [
        site.url("/harbour/museum.html")
    ]
    lines = tmp_path / "feeds.txt"
    lines.write_text(f"# Valley News\n\n{site.url('/rss.xml')}\n")
    assert len(follow_once(settings, source_list=lines)) == len(RSS_ITEMS)


def test_a_list_file_edited_while_running_is_followed(
    site: Site, settings: Settings, tmp_path: Path
) -> None:
    serve_news(site)
    sources = tmp_path / "feeds.txt"
    sources.write_text(site.url("/rss.xml") + "\n")
    settings = settings.model_copy(update={"follow_list_check_seconds": 0.05})
    sink = MemorySink()
    follower = FeedFollower(
        settings, [], sink, interval=0.1, source_list=sources, report=lambda _line: None
    )

    async def follow() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(follower.run(stop))
        while len(sink.messages) < len(RSS_ITEMS):
            await asyncio.sleep(0.02)
        sources.write_text(site.url("/atom.xml") + "\n")
        while len(sink.messages) < len(RSS_ITEMS) + len(ATOM_ITEMS):
            await asyncio.sleep(0.02)
        polls = site.hits("/rss.xml")
        await asyncio.sleep(0.5)
        stop.set()
        await running
        assert site.hits("/rss.xml") == polls  # removed from the list: no longer polled

    asyncio.run(asyncio.wait_for(follow(), 15))
    assert {message.key for message in sink.messages} == {
        stable_id(url=site.url(path)) for path in PAGES
    }


def test_an_html_page_that_links_no_feed_is_refused(site: Site, settings: Settings) -> None:
    site.routes["/about.html"] = Route(page("About us", "We are a local paper.").encode())
    lines: list[str] = []
    follower = FeedFollower(
        settings, [site.url("/about.html")], MemorySink(), interval=0.01, report=lines.append
    )
    asyncio.run(follower.run(once=True))
    assert lines == [
        f"newswire: {site.url('/about.html')} is a web page that links no feed, "
        "and its robots.txt lists no sitemap; no longer following "
        f"{site.url('/about.html')}"
    ]
    assert sorted(site.paths()) == sorted(
        [
            "/robots.txt",
            "/about.html",
            "/feed",
            "/rss",
            "/rss.xml",
            "/atom.xml",
            "/feed.xml",
            "/index.xml",
        ]
    )

    discovered = FeedFollower(
        settings, [site.url("/about.html")], MemorySink(), interval=0.01, report=lines.append
    )
    site.routes["/feed"] = Route(rss(site.url, "Valley News", []), "application/rss+xml")
    asyncio.run(discovered.run(once=True))
    assert lines[-1] == (
        f"newswire: {site.url('/about.html')} is a web page; following {site.url('/feed')}"
    )


# ------------------------------------------------------------------ failures


def test_unavailable_page_is_retried_then_its_summary_then_the_page(
    site: Site, settings: Settings
) -> None:
    serve_news(site)
    ferry = RSS_ITEMS[0]
    site.routes[ferry.path].status = 503
    settings = settings.model_copy(update={"follow_summary_after_seconds": 0.3})
    feed = site.url("/rss.xml")

    assert [a.url for a in follow_once(settings, feed, interval=0.5)] == [
        site.url(RSS_ITEMS[1].path)
    ]
    assert follow_once(settings, feed) == []  # not due again yet: backoff of about 1 s
    assert site.hits(ferry.path) == 1
    time.sleep(1.2)
    [summary] = follow_once(settings, feed)  # unavailable for longer than 0.3 s
    assert (summary.content_kind, summary.revision, summary.text) == (
        "feed_summary",
        1,
        ferry.summary,
    )
    site.routes[ferry.path].status = 200
    time.sleep(0.1)
    [full] = follow_once(settings, feed)
    assert (full.content_kind, full.revision, full.html) == ("page", 2, PAGES[ferry.path])


def test_retry_after_holds_the_host(site: Site, settings: Settings) -> None:
    serve_news(site)
    site.routes["/2025/06/ferry.html"] = Route(
        b"slow down", "text/plain", status=429, headers={"Retry-After": "1"}
    )
    found = by_url(follow_once(settings, site.url("/rss.xml"), site.url("/atom.xml")))
    assert site.url("/2025/06/ferry.html") not in found
    refused = next(r for r in site.log if r.status == 429)
    later = [r for r in site.log if r.started > refused.ended]
    assert later and min(r.started for r in later) - refused.ended >= 1.0


def test_failing_sources_do_not_stop_the_others(site: Site, settings: Settings) -> None:
    serve_news(site)
    site.routes["/broken.xml"] = Route(b"Internal error", "text/plain", status=500)
    site.routes["/garbage.xml"] = Route(b"\x89PNG\r\n not a feed <<<", "application/rss+xml")
    site.routes["/slow.xml"] = Route(site.routes["/atom.xml"].body, "application/atom+xml", delay=3)
    site.routes["/loop"] = Route(b"", status=302, headers={"Location": "/loop"})
    bomb = gzip.compress(b"<rss>" + b" " * 50_000_000)
    site.routes["/bomb.xml"] = Route(bomb, "application/rss+xml", encoding="gzip")
    closed = f"http://127.0.0.1:{free_port()}/rss.xml"
    settings = settings.model_copy(update={"max_article_bytes": 1_000_000})
    broken = ["/broken.xml", "/garbage.xml", "/slow.xml", "/loop", "/bomb.xml"]

    found = follow_once(settings, *map(site.url, broken), closed, site.url("/atom.xml"))
    assert [a.url for a in found] == [site.url("/harbour/museum.html")]
    assert site.hits("/loop") == settings.follow_max_redirects + 1


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "file:///etc/passwd",
        "ftp://example.org/feed",
        "http://10.0.0.1/rss",
        "http://169.254.169.254/latest",
        "http://[::1]/rss",
        "http://127.0.0.1/rss",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        check_url(url)
    assert refused.value.permanent


def test_loopback_host_names_are_refused_unless_allowed(site: Site, settings: Settings) -> None:
    serve_news(site)
    feed = site.url("/rss.xml").replace("127.0.0.1", "localhost")
    assert follow_once(settings.model_copy(update={"follow_allow_loopback": False}), feed) == []
    assert site.log == []
    assert len(follow_once(settings, feed)) == len(RSS_ITEMS)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120
    assert retry_after("Tue, 03 Jun 2025 12:01:30 GMT", now) == 90
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_backoff_doubles_per_failure_up_to_the_limit(settings: Settings) -> None:
    settings = settings.model_copy(update={"follow_max_backoff_seconds": 60})
    feeds = FeedFollower(settings, [], MemorySink(), interval=10, jitter=0.0)
    assert feeds.next_delay(0) == 10
    assert feeds.next_delay(2) == 40
    assert feeds.next_delay(5) == 60
    assert feeds.next_delay(0, retry_after=90) == 90


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["notaurl"], "not an http or https URL"),
        (["file:///etc/passwd"], "not an http or https URL"),
        (["http://example.org/rss", "--interval", "5"], "below the floor of 60 s"),
        ([], "at least one SOURCE"),
    ],
)
def test_follow_refuses_bad_sources_and_intervals(arguments: list[str], expected: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswire.cli",
            "follow",
            *arguments,
            "--broker",
            "kafka://127.0.0.1:9",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and expected in result.stderr, result.stderr


# ------------------------------------------------------------------ publishing


def test_an_unreadable_robots_txt_stops_all_fetching_from_the_site_for_now(
    site: Site, settings: Settings
) -> None:
    serve_news(site)
    site.routes["/robots.txt"] = Route(b"overloaded", "text/plain", status=503)
    assert follow_once(settings, site.url("/rss.xml")) == []
    assert site.paths() == ["/robots.txt"]
    state = FollowState(settings.follow_state_path)  # kept for a retry, not given up
    assert state.resource(site.url("/rss.xml")).failures == 1
    state.close()
