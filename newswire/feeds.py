"""Following RSS 2.0 and Atom feeds: every new entry becomes a raw-article message.

Each feed is polled on its own schedule (an interval with jitter; exponential
backoff while it fails). For each entry not seen before, the article page is
fetched and published as HTML; when the page cannot be had, the entry's own
summary or content is published as text instead, and an entry with neither is
skipped with a warning and tried again at the next poll.

Feeds are read with ``feedparser``; HTTP goes through ``aiohttp`` with
conditional GETs (ETag / Last-Modified). Entries already published are kept in
memory (a bounded set per feed); ids are stable hashes of the entry link, so
what a restart publishes again is dropped downstream by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import struct_time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import feedparser
import lxml.html
from aiokafka.errors import KafkaError

from newswire.inputs import Outbound, publish, stable_id
from newswire.settings import Settings
from schemas.records import RawArticle
from streams.cleaning import decode_html
from streams.errors import Rejected

logger = logging.getLogger(__name__)

USER_AGENT = "newswire-feed-follower (+https://github.com/newswire)"
_BLOCK_END = re.compile(r"(?i)<\s*(?:br|/p|/div|/li|/h[1-6]|/blockquote)\b[^>]*>")


class FetchError(Exception):
    """A feed or page could not be fetched or read; the message says why."""


class RecentKeys:
    """The last ``capacity`` keys added, oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: dict[str, None] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        """Remember ``key`` (as the newest), forgetting the oldest beyond capacity."""
        self._keys.pop(key, None)
        self._keys[key] = None
        while len(self._keys) > self._capacity:
            del self._keys[next(iter(self._keys))]


@dataclass
class FeedState:
    """What the follower remembers about one feed between polls."""

    url: str
    interval: float
    seen: RecentKeys
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0


@dataclass
class FeedPoll:
    """One poll of a feed: messages to publish, and what to remember once they are sent."""

    messages: list[Outbound] = field(default_factory=list)
    entry_keys: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


class FeedFollower:
    """Polls feeds and turns their new entries into raw-article messages.

    ``interval`` is the default seconds between polls of a feed, ``intervals``
    overrides it per feed URL; each wait is varied by ±``jitter`` (a fraction)
    so feeds do not stay in step. A failing feed waits ``interval`` doubled per
    consecutive failure, up to ``max_backoff`` seconds.
    """

    def __init__(
        self,
        settings: Settings,
        feed_urls: Iterable[str],
        interval: float = 300.0,
        *,
        intervals: Mapping[str, float] | None = None,
        jitter: float = 0.1,
        max_backoff: float = 3600.0,
        timeout: float = 20.0,
        connections_per_host: int = 4,
        remember: int = 10_000,
    ) -> None:
        self.settings = settings
        overrides = intervals or {}
        self.feeds = [
            FeedState(url, overrides.get(url, interval), RecentKeys(remember))
            for url in dict.fromkeys(feed_urls)
        ]
        self.jitter = jitter
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.connections_per_host = connections_per_host

    async def poll_once(self) -> list[Outbound]:
        """Poll every feed once; return the messages of entries not returned before."""
        async with self._session() as session:
            polls = await asyncio.gather(*(self._poll(session, feed) for feed in self.feeds))
        messages: list[Outbound] = []
        for feed, poll in zip(self.feeds, polls, strict=True):
            if poll is not None:
                self._commit(feed, poll)
                messages.extend(poll.messages)
        return messages

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll each feed on its schedule and publish new entries, until ``stop`` is set."""
        stop = stop or asyncio.Event()
        async with self._session() as session:
            await asyncio.gather(*(self._follow(session, feed, stop) for feed in self.feeds))

    def next_delay(self, feed: FeedState) -> float:
        """Seconds to wait before polling ``feed`` again: its interval, or backoff, with jitter."""
        base = min(feed.interval * 2**feed.failures, max(self.max_backoff, feed.interval))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    async def _follow(self, session: aiohttp.ClientSession, feed: FeedState,
                      stop: asyncio.Event) -> None:
        while not stop.is_set():
            poll = await self._poll(session, feed)
            if poll is not None:
                try:
                    if poll.messages:
                        await publish(self.settings, poll.messages)
                    self._commit(feed, poll)
                except (KafkaError, OSError) as error:
                    feed.failures += 1
                    logger.warning("feed %s: publishing %d articles failed (%s); retrying",
                                   feed.url, len(poll.messages), error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.next_delay(feed))

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit_per_host=self.connections_per_host),
            trust_env=True,
        )

    @staticmethod
    def _commit(feed: FeedState, poll: FeedPoll) -> None:
        for key in poll.entry_keys:
            feed.seen.add(key)
        feed.etag, feed.last_modified = poll.etag, poll.last_modified
        feed.failures = 0

    async def _poll(self, session: aiohttp.ClientSession, feed: FeedState) -> FeedPoll | None:
        """The new entries of ``feed``, or None (logged) when the feed cannot be read."""
        try:
            return await self._read_feed(session, feed)
        except FetchError as error:
            feed.failures += 1
            logger.warning("feed %s: %s (failure %d in a row; retrying with backoff)",
                           feed.url, error, feed.failures)
        except Exception:  # a bug on one feed's content must not stop the other feeds
            feed.failures += 1
            logger.exception("feed %s: unexpected error (retrying with backoff)", feed.url)
        return None

    async def _read_feed(self, session: aiohttp.ClientSession, feed: FeedState) -> FeedPoll:
        conditions = {"If-None-Match": feed.etag, "If-Modified-Since": feed.last_modified}
        headers = {name: value for name, value in conditions.items() if value}
        try:
            async with session.get(feed.url, headers=headers) as response:
                if response.status == 304:
                    return FeedPoll(etag=feed.etag, last_modified=feed.last_modified)
                data = await _body(response, self.settings.max_article_bytes)
                response_headers = {
                    "content-type": response.headers.get("Content-Type", ""),
                    "content-location": str(response.url),
                }
                etag = response.headers.get("ETag")
                last_modified = response.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise FetchError(_describe(error)) from error
        parsed = feedparser.parse(data, response_headers=response_headers)
        if parsed.bozo and not parsed.entries:
            raise FetchError(f"not a readable feed ({parsed.get('bozo_exception')})")
        source = parsed.feed.get("title") or urlsplit(feed.url).hostname or feed.url
        new = {key: entry for entry in parsed.entries
               if (key := entry.get("id") or entry.get("link")) and key not in feed.seen}
        articles = await asyncio.gather(
            *(self._article(session, feed.url, source, entry) for entry in new.values())
        )
        poll = FeedPoll(etag=etag, last_modified=last_modified)
        for key, message in zip(new, articles, strict=True):
            if message is not None:
                poll.messages.append(message)
                poll.entry_keys.append(key)
        if len(poll.messages) < len(new):
            # Some entries wait for the next poll: it must not be answered "not modified".
            poll.etag = poll.last_modified = None
        return poll

    async def _article(self, session: aiohttp.ClientSession, feed_url: str, source: str,
                       entry: Any) -> Outbound | None:
        """The message of one entry: its page, else its summary as text, else None (logged)."""
        link: str | None = entry.get("link")
        title: str | None = entry.get("title")
        fields: dict[str, Any] = {
            "id": stable_id(url=link) if link else stable_id(content=f"{feed_url}\n{entry.id}"),
            "url": link, "source": source, "title": title,
            "published_at": _entry_time(entry), "fetched_at": datetime.now(UTC),
        }
        problem = "the entry has no link"
        if link:
            try:
                fields["html"] = await self._page(session, link)
            except FetchError as error:
                problem = f"page {link}: {error}"
        if "html" not in fields:
            text = _entry_text(entry)
            if not text:
                logger.warning("feed %s: entry %r skipped until the next poll: %s and no "
                               "summary or content", feed_url, title or link, problem)
                return None
            logger.warning("feed %s: %s; publishing the entry's summary instead", feed_url,
                           problem)
            fields["text"] = text
        article = RawArticle(**fields)
        return Outbound.of(article)

    async def _page(self, session: aiohttp.ClientSession, url: str) -> str:
        try:
            async with session.get(url) as response:
                data = await _body(response, self.settings.max_article_bytes)
                charset = response.charset
        except (aiohttp.ClientError, TimeoutError) as error:
            raise FetchError(_describe(error)) from error
        try:
            return decode_html(data, charset)
        except Rejected as error:
            raise FetchError(f"{error.code}: {error.reason}") from error


async def _body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The response body; FetchError for an HTTP error status or more than ``limit`` bytes."""
    if response.status >= 400:
        raise FetchError(f"HTTP {response.status} {response.reason or ''}".rstrip())
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise FetchError(f"body larger than {limit:,} bytes")
    return bytes(data)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _entry_time(entry: Any) -> datetime | None:
    moment: struct_time | None = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime(*moment[:6], tzinfo=UTC) if moment else None


def _entry_text(entry: Any) -> str | None:
    """The entry's longest content or summary, as plain text with paragraph breaks."""
    details = [*entry.get("content", []), entry.get("summary_detail")]
    best = max((d for d in details if d and d.get("value", "").strip()),
               key=lambda d: len(d["value"]), default=None)
    if best is None:
        return None
    value: str = best["value"]
    if "html" in best.get("type", ""):
        value = lxml.html.fragment_fromstring(_BLOCK_END.sub("\n\n", value),
                                              create_parent="div").text_content()
    paragraphs = (" ".join(block.split()) for block in value.split("\n\n"))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph) or None
