"""Where articles are listed: feeds, sitemaps, a site's home page, and source lists.

Feeds are read with feedparser; sitemaps (indexes, pages, Google News) with
ultimate-sitemap-parser's string parser; the feeds a home page links with
trafilatura's ``determine_feed``. Written here is only what those lack as
pure functions (they fetch on their own, without newswire's politeness): the
common feed paths tried when a page links none, and reading a source list
(OPML, or one URL a line).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import struct_time
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html
from trafilatura.feeds import FeedParameters, determine_feed
from usp.objects.sitemap import AbstractIndexSitemap, AbstractPagesSitemap, InvalidSitemap
from usp.tree import sitemap_from_str

from streams.text import content_hash

COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml")
_BLOCK_END = re.compile(r"(?i)<\s*(?:br|/p|/div|/li|/h[1-6]|/blockquote)\b[^>]*>")


@dataclass(frozen=True)
class Listed:
    """An article as a feed or sitemap lists it."""

    url: str
    title: str | None
    summary: str | None
    published_at: datetime | None
    source: str | None
    mark: str
    """Changes when the listing does (its date, title or summary): the page may have changed."""


@dataclass(frozen=True)
class Listing:
    """What one feed or sitemap lists: articles, and (a sitemap index) other sitemaps."""

    articles: list[Listed]
    sitemaps: list[str]


def parse_listing(
    data: bytes, url: str, content_type: str, now: datetime, sitemap_days: float
) -> Listing | None:
    """The listing in ``data`` (a feed or a sitemap), or None if it is neither.

    Sitemap pages dated more than ``sitemap_days`` before ``now`` are left out.
    """
    if b"<urlset" in data[:2048] or b"<sitemapindex" in data[:2048]:
        return _sitemap(
            data.decode("utf-8", errors="replace"), url, now - timedelta(days=sitemap_days)
        )
    if is_html(data):
        return None
    parsed = feedparser.parse(
        data, response_headers={"content-type": content_type, "content-location": url}
    )
    if not parsed.version and not parsed.entries:
        return None
    source = parsed.feed.get("title") or urlsplit(url).hostname
    return Listing(
        [
            listed
            for entry in parsed.entries
            if (listed := _feed_entry(entry, url, source)) is not None
        ],
        [],
    )


def feed_links(html: str, url: str) -> list[str]:
    """The feeds a web page links (``<link rel="alternate">``, else feed-like anchors)."""
    split = urlsplit(url)
    base = f"{split.scheme}://{split.netloc}"
    return determine_feed(html, FeedParameters(base, split.hostname or "", url))


def common_feed_urls(url: str) -> list[str]:
    """Where sites often put their feed, on ``url``'s site."""
    return [urljoin(url, path) for path in COMMON_FEED_PATHS]


def is_html(data: bytes) -> bool:
    """Whether a response body is a web page (rather than a feed or sitemap)."""
    return data[:512].lstrip().lower().startswith((b"<!doctype html", b"<html"))


def read_source_list(path: Path) -> list[str]:
    """The URLs of a source list: OPML (each outline's ``xmlUrl``), else one URL a line
    (blank lines and lines starting with ``#`` skipped)."""
    data = path.read_bytes()
    if b"<opml" in data[:1024].lower():
        tree = lxml.etree.fromstring(
            data, lxml.etree.XMLParser(resolve_entities=False, no_network=True)
        )
        return [url for outline in tree.iter("outline") if (url := outline.get("xmlUrl"))]
    lines = (line.strip() for line in data.decode("utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _sitemap(text: str, url: str, oldest: datetime) -> Listing:
    sitemap = sitemap_from_str(text)
    if isinstance(sitemap, AbstractIndexSitemap):
        return Listing([], [child.url for child in sitemap.sub_sitemaps])
    if isinstance(sitemap, InvalidSitemap) or not isinstance(sitemap, AbstractPagesSitemap):
        return Listing([], [])
    return Listing(list(_sitemap_pages(sitemap, url, oldest)), [])


def _sitemap_pages(sitemap: AbstractPagesSitemap, url: str, oldest: datetime) -> Iterator[Listed]:
    for page in sitemap.pages:
        story = page.news_story
        moment = (story.publish_date if story else None) or page.last_modified
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment is not None and moment < oldest:
            continue
        title = story.title if story else None
        source = (story.publication_name if story else None) or urlsplit(url).hostname
        yield Listed(
            page.url,
            title,
            None,
            moment,
            source,
            content_hash(f"{page.last_modified}\n{moment}\n{title}"),
        )


def _feed_entry(entry: Any, feed_url: str, source: str | None) -> Listed | None:
    link: str | None = entry.get("link")
    if not link:
        return None
    title: str | None = entry.get("title")
    summary = _entry_text(entry)
    updated = entry.get("updated") or entry.get("published") or ""
    return Listed(
        urljoin(feed_url, link),
        title,
        summary,
        _entry_time(entry),
        source,
        content_hash(f"{updated}\n{title}\n{summary}"),
    )


def _entry_time(entry: Any) -> datetime | None:
    moment: struct_time | None = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime(*moment[:6], tzinfo=UTC) if moment else None


def _entry_text(entry: Any) -> str | None:
    """The entry's longest content or summary, as plain text with paragraph breaks."""
    details = [*entry.get("content", []), entry.get("summary_detail")]
    best = max(
        (d for d in details if d and d.get("value", "").strip()),
        key=lambda d: len(d["value"]),
        default=None,
    )
    if best is None:
        return None
    value: str = best["value"]
    if "html" in best.get("type", ""):
        value = lxml.html.fragment_fromstring(
            _BLOCK_END.sub("\n\n", value), create_parent="div"
        ).text_content()
    paragraphs = (" ".join(block.split()) for block in value.split("\n\n"))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph) or None
