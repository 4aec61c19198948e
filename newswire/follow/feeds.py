"""Following news sources: every new or changed article becomes a raw-article message.

A source is a feed (RSS, Atom), a sitemap (index, pages or Google News), or a
site's home page, whose feeds (``<link rel="alternate">``, else common paths)
and robots.txt sitemaps are followed instead (:mod:`newswire.follow.discovery`). Each
feed or sitemap is polled with a conditional GET every ``interval`` (±jitter),
backing off while it fails. Every article it lists is remembered
(:mod:`newswire.follow.state`): its page is fetched once, and again only when
the listing changes (a new date, title or summary); a page whose content
changed is published as the article's next revision. A page that cannot be
fetched is tried again with backoff; when it stays unavailable for
``follow_summary_after_seconds`` (at once if robots.txt disallows it), the
feed's summary is published instead, as ``content_kind="feed_summary"``, and
the page, when it comes, as the next revision.

Every request goes through :class:`newswire.follow.politeness.PoliteClient` (robots.txt,
one request at a time per host, Crawl-delay, Retry-After) and
:func:`newswire.follow.fetch.fetch` (http/https only, public addresses, bounded size
and time). One asyncio loop, one HTTP session and one sink (a Kafka producer)
serve the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aiokafka.errors import KafkaError

from newswire.follow.discovery import (
    Listed,
    common_feed_urls,
    feed_links,
    is_html,
    parse_listing,
    read_source_list,
)
from newswire.follow.fetch import FetchError, Response, open_session
from newswire.follow.politeness import ROBOTS_TTL_SECONDS, PoliteClient
from newswire.follow.state import EntryState, FollowState, ResourceState
from newswire.replay.inputs import Message, Outbound, stable_id
from schemas.records import ContentKind, RawArticle
from schemas.settings import Settings
from streams.clean.extract import decode_html
from streams.errors import Rejected
from streams.text import content_hash

logger = logging.getLogger(__name__)

MAX_SITEMAP_DEPTH = 2
MAX_CHILD_SITEMAPS = 1000


class Sink(Protocol):
    """Where articles go: :class:`newswire.replay.inputs.RawPublisher`, or a list in memory."""

    async def send(self, messages: Iterable[Message]) -> int:
        """Send ``messages``; return how many articles were taken."""
        ...


class MemorySink:
    """A sink that keeps the messages (for tests and benchmarks)."""

    def __init__(self) -> None:
        self.messages: list[Outbound] = []

    async def send(self, messages: Iterable[Message]) -> int:
        """Keep the articles among ``messages``."""
        articles = [message for message in messages if isinstance(message, Outbound)]
        self.messages.extend(articles)
        return len(articles)


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class FeedFollower:
    """Follows sources and publishes their new and changed articles to ``sink``.

    ``sources`` are URLs; ``source_list`` a file of more (OPML or one URL a line),
    read again when it changes. ``report`` gets one line per article published and
    per source found or given up.
    """

    def __init__(
        self,
        settings: Settings,
        sources: Iterable[str],
        sink: Sink,
        *,
        interval: float = 300.0,
        source_list: Path | None = None,
        jitter: float = 0.1,
        report: Callable[[str], None] = _print_to_stderr,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sources = list(dict.fromkeys(sources))
        self.sink = sink
        self.interval = interval
        self.source_list = source_list
        self.jitter = jitter
        self.report = report
        self.clock = clock
        self.published: Counter[ContentKind] = Counter()
        self.state = FollowState(settings.follow_state_path)
        self._client: PoliteClient | None = None
        self._followed: set[str] = set()
        self._source_tasks: dict[str, asyncio.Task[None]] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None, *, once: bool = False) -> None:
        """Follow every source until ``stop`` is set; ``once``: one pass, then return."""
        stop = stop or asyncio.Event()
        async with open_session(self.settings) as session:
            self._client = PoliteClient(self.settings, session, self.state)
            try:
                if once:
                    await asyncio.gather(
                        *(self._follow_source(url, once=True) for url in self._all_sources())
                    )
                    await asyncio.gather(
                        *(
                            self._fetch_entry(entry)
                            for entry in self.state.due_entries(self.clock())
                        )
                    )
                else:
                    await self._follow(stop)
            finally:
                self.state.forget_older_than(self.clock() - self.settings.follow_state_days * 86400)
                self.state.close()

    def next_delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds until the next try: the interval doubled per failure (up to
        ``follow_max_backoff_seconds``), with jitter, and at least ``retry_after``."""
        base = min(
            self.interval * 2**failures,
            max(self.settings.follow_max_backoff_seconds, self.interval),
        )
        return max(base * random.uniform(1 - self.jitter, 1 + self.jitter), retry_after or 0.0)

    async def _follow(self, stop: asyncio.Event) -> None:
        pages = asyncio.create_task(self._follow_pages())
        sources = asyncio.create_task(self._follow_sources())
        try:
            await stop.wait()
        finally:
            tasks = [pages, sources, *self._source_tasks.values(), *self._in_flight.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _all_sources(self) -> list[str]:
        listed: list[str] = []
        if self.source_list is not None:
            try:
                listed = read_source_list(self.source_list)
            except (OSError, ValueError) as error:
                logger.warning("source list %s cannot be read: %s", self.source_list, error)
        return list(dict.fromkeys([*self.sources, *listed]))

    async def _follow_sources(self) -> None:
        """Start and stop source tasks as the source list changes."""
        seen_version: float | None = None
        while True:
            version = (
                self.source_list.stat().st_mtime
                if self.source_list and self.source_list.exists()
                else None
            )
            if version != seen_version or not self._source_tasks:
                seen_version = version
                wanted = self._all_sources()
                for url in set(self._source_tasks) - set(wanted):
                    self._source_tasks.pop(url).cancel()
                    self.report(f"newswire: no longer following {url}")
                for url in wanted:
                    if url not in self._source_tasks:
                        self._source_tasks[url] = asyncio.create_task(self._follow_source(url))
            await asyncio.sleep(self.settings.follow_list_check_seconds)

    async def _follow_source(self, url: str, once: bool = False) -> None:
        found = self.state.discovered(url, self.clock())
        await asyncio.gather(
            *(self._follow_resource(resource, url, once) for resource in (found or [url]))
        )

    async def _follow_resource(self, url: str, given: str, once: bool) -> None:
        """Poll one feed or sitemap on its schedule (``once``: now, once)."""
        if url in self._followed:
            return  # another source lists it
        self._followed.add(url)
        try:
            while True:
                if not once:
                    await asyncio.sleep(max(0.0, self.state.resource(url).next_poll - self.clock()))
                found = await self._poll(url, given)
                if found is not None:
                    await asyncio.gather(
                        *(self._follow_resource(resource, given, once) for resource in found)
                    )
                    return
                if once:
                    return
        finally:
            self._followed.discard(url)

    async def _poll(self, url: str, given: str) -> list[str] | None:
        """Poll ``url``, remembering what it lists. None: poll it again later; else it is
        followed no more, and what to follow instead: the feeds and sitemaps found on a
        web page given as a source, or nothing (a URL that cannot be followed)."""
        state = self.state.resource(url)
        try:
            listed = await self._read(state, url == given, depth=0)
        except FetchError as error:
            return self._resource_failed(state, error)
        except Discovered as found:
            return found.resources
        if state.failures:
            self.report(f"newswire: {url} readable again after {state.failures} failures")
        state.failures = 0
        state.next_poll = self.clock() + self.next_delay(0)
        state.seen_at = self.clock()
        self.state.save_resource(state)
        self._note(listed, url)
        return None

    async def _read(self, state: ResourceState, given: bool, depth: int) -> list[Listed]:
        """What ``state``'s feed or sitemap lists now (nothing if not modified)."""
        response = await self._get(
            state.url, {"If-None-Match": state.etag, "If-Modified-Since": state.last_modified}
        )
        if response.status == 304:
            return []
        listing = parse_listing(
            response.body,
            response.url,
            response.headers.get("Content-Type", ""),
            datetime.now(UTC),
            self.settings.follow_sitemap_days,
        )
        if listing is None:
            if given and is_html(response.body):
                raise Discovered(await self._discover(state.url, response))
            raise FetchError(f"{state.url}: not a feed or a sitemap", permanent=True)
        state.etag = response.headers.get("ETag")
        state.last_modified = response.headers.get("Last-Modified")
        articles = list(listing.articles)
        if depth < MAX_SITEMAP_DEPTH:
            for child_url in listing.sitemaps[:MAX_CHILD_SITEMAPS]:
                child = self.state.resource(child_url)
                try:
                    articles += await self._read(child, False, depth + 1)
                except FetchError as error:
                    logger.warning("sitemap %s: %s", child_url, error)
                    continue
                child.seen_at = self.clock()
                self.state.save_resource(child)
        return articles

    async def _discover(self, url: str, page: Response) -> list[str]:
        """The feeds and sitemaps of the web page ``url``; FetchError if it has none."""
        html = page.body.decode(page.charset or "utf-8", errors="replace")
        found = feed_links(html, page.url) or [
            candidate
            for candidate in common_feed_urls(page.url)
            if await self._is_listing(candidate)
        ]
        assert self._client is not None
        found += (await self._client.robots(page.url)).sitemaps()
        if not found:
            raise FetchError(
                f"{url} is a web page that links no feed, and its robots.txt lists no sitemap",
                permanent=True,
            )
        found = list(dict.fromkeys(found))
        self.report(f"newswire: {url} is a web page; following {', '.join(found)}")
        self.state.save_discovered(url, found, self.clock() + ROBOTS_TTL_SECONDS)
        return found

    async def _is_listing(self, url: str) -> bool:
        try:
            response = await self._get(url, {})
        except FetchError:
            return False
        return (
            parse_listing(
                response.body,
                response.url,
                "",
                datetime.now(UTC),
                self.settings.follow_sitemap_days,
            )
            is not None
        )

    async def _get(self, url: str, conditions: dict[str, str | None]) -> Response:
        assert self._client is not None, "requests are made while the follower runs"
        headers = {name: value for name, value in conditions.items() if value}
        return await self._client.get(url, headers)

    def _resource_failed(self, state: ResourceState, error: FetchError) -> list[str] | None:
        """Note a failed poll: [] (give up) if asking again cannot help, else None."""
        state.failures += 1
        if error.permanent:
            self.report(f"newswire: {error}; no longer following {state.url}")
            return []
        if state.failures == 1:
            logger.warning(
                "%s (retrying with backoff; further failures logged at debug level)", error
            )
        else:
            logger.debug("%s (failure %d in a row)", error, state.failures)
        state.next_poll = self.clock() + self.next_delay(state.failures, error.retry_after)
        state.seen_at = self.clock()  # still followed: its failures are kept
        self.state.save_resource(state)
        return None

    def _note(self, listed: list[Listed], provenance: str) -> None:
        """Remember what a source lists; a new or changed article's page becomes due."""
        now = self.clock()
        states: dict[str, EntryState] = {}
        for item in listed:
            article_id = stable_id(url=item.url)
            known = states.get(article_id) or self.state.entry(article_id)
            if known is None:
                known = EntryState(
                    article_id,
                    item.url,
                    item.source,
                    provenance,
                    item.title,
                    item.summary,
                    item.published_at,
                    item.mark,
                    next_try=now,
                )
            elif item.mark != known.mark:
                known.title, known.summary = item.title, item.summary
                known.published_at, known.mark = item.published_at, item.mark
                if known.next_try is None:
                    known.next_try = now
            known.seen_at = now
            states[article_id] = known
        self.state.save_entries(list(states.values()))
        if any(state.next_try is not None for state in states.values()):
            self._wake.set()

    async def _follow_pages(self) -> None:
        """Fetch each due article page, as they become due."""
        while True:
            self._wake.clear()
            for entry in self.state.due_entries(self.clock()):
                if entry.article_id not in self._in_flight:
                    task = asyncio.create_task(self._fetch_entry(entry), name=entry.article_id)
                    self._in_flight[entry.article_id] = task
                    task.add_done_callback(self._landed)
            upcoming = self.state.next_entry_try()
            timeout = 3600.0 if upcoming is None else max(0.05, upcoming - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task.get_name(), None)

    async def _fetch_entry(self, entry: EntryState) -> None:
        """Fetch one article page; publish it if it is new or changed."""
        fresh = entry.revision > 0 and entry.kind == "page"
        try:
            response = await self._get(
                entry.url,
                {
                    "If-None-Match": entry.etag if fresh else None,
                    "If-Modified-Since": entry.last_modified if fresh else None,
                },
            )
            html = None if response.status == 304 else decode_html(response.body, response.charset)
        except (FetchError, Rejected) as error:
            failure = (
                error
                if isinstance(error, FetchError)
                else FetchError(f"{entry.url}: {error.code}: {error.reason}", permanent=True)
            )
            await self._entry_failed(entry, failure)
            return
        if html is not None:
            digest = content_hash(html)
            changed = digest != entry.content_hash or entry.kind != "page"
            if changed and not await self._publish(entry, "page", digest, html=html):
                return
            entry.etag = response.headers.get("ETag")
            entry.last_modified = response.headers.get("Last-Modified")
        entry.next_try, entry.failures, entry.first_failed = None, 0, None
        self.state.save_entries([entry])

    async def _entry_failed(self, entry: EntryState, error: FetchError) -> None:
        now = self.clock()
        entry.failures += 1
        entry.first_failed = entry.first_failed or now
        (logger.warning if entry.failures == 1 else logger.debug)(
            "%s (failure %d; retrying with backoff)", error, entry.failures
        )
        summary_due = error.permanent or (
            now - entry.first_failed >= self.settings.follow_summary_after_seconds
        )
        if (
            entry.revision == 0
            and entry.summary
            and summary_due
            and not await self._publish(
                entry, "feed_summary", content_hash(entry.summary), text=entry.summary
            )
        ):
            return
        gave_up = now - entry.first_failed > self.settings.follow_state_days * 86400
        entry.next_try = (
            None if gave_up else now + self.next_delay(entry.failures, error.retry_after)
        )
        self.state.save_entries([entry])

    async def _publish(
        self,
        entry: EntryState,
        kind: ContentKind,
        digest: str,
        *,
        html: str | None = None,
        text: str | None = None,
    ) -> bool:
        """Publish ``entry``'s next revision; False (logged, retried later) if the sink fails."""
        article = RawArticle(
            id=entry.article_id,
            url=entry.url,
            source=entry.source,
            provenance=f"feed:{entry.provenance}",
            revision=entry.revision + 1,
            content_hash=digest,
            content_kind=kind,
            title=entry.title,
            html=html,
            text=text,
            published_at=entry.published_at,
            fetched_at=datetime.now(UTC),
        )
        try:
            await self.sink.send([Outbound.of(article)])
        except (KafkaError, OSError) as error:
            logger.warning("publishing %s failed (%s); retrying", entry.url, error)
            entry.next_try = self.clock() + self.next_delay(1)
            self.state.save_entries([entry])
            return False
        entry.revision, entry.content_hash, entry.kind = article.revision, digest, kind
        self.published[kind] += 1
        what = "" if kind == "page" else ", the feed's summary"
        self.report(f"newswire: published {entry.url} (revision {article.revision}{what})")
        return True


class Discovered(Exception):
    """A web page given as a source: ``resources`` are the feeds and sitemaps found on it."""

    def __init__(self, resources: list[str]) -> None:
        super().__init__(resources)
        self.resources = resources
