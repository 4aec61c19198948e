"""Asking a web site only what it allows, and no faster than it allows.

Per host: one request at a time, and the next one no sooner than
``follow_min_delay_seconds`` after the last answer, or the site's
``Crawl-delay`` when larger. ``robots.txt`` is read (with protego) before the
first request to a site, kept for a day, and obeyed for every URL, redirect
targets included; a ``robots.txt`` that is missing (4xx) allows everything,
one that cannot be read (5xx, network error) allows nothing until it is asked
again ``ROBOTS_RETRY_SECONDS`` later (RFC 9309). A 429 or 503 answer holds
the whole host for its ``Retry-After`` (seconds or an HTTP date).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from protego import Protego

from newswire.follow.fetch import FetchError, Response, fetch
from newswire.follow.state import FollowState
from schemas.settings import Settings

ROBOTS_TTL_SECONDS = 24 * 3600.0
ROBOTS_RETRY_SECONDS = 600.0
ROBOTS_AGENT = "newswire"
RETRY_STATUSES = (429, 503)


@dataclass
class Host:
    """The pacing of one host: a lock held during each request, the least time from one
    answer to the next request, and when the last answer came or a Retry-After ends."""

    delay: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_end: float = float("-inf")
    held_until: float = 0.0


@dataclass
class Robots:
    """One site's robots.txt rules, and when to read them again."""

    rules: Protego | None
    readable: bool
    """False while robots.txt cannot be read (5xx, network error): nothing is fetched."""
    expires: float
    """Wall-clock time after which robots.txt is read again."""

    @classmethod
    def of(cls, body: str | None, readable: bool, expires: float) -> Robots:
        """The rules of a robots.txt text (None: there is none, or it cannot be read)."""
        return cls(None if body is None else Protego.parse(body), readable, expires)

    def allows(self, url: str) -> bool:
        """Whether the rules allow newswire to fetch ``url``."""
        if self.rules is None:
            return True
        return bool(self.rules.can_fetch(url, ROBOTS_AGENT))

    def crawl_delay(self) -> float:
        """The site's Crawl-delay for newswire, 0 if none."""
        delay = self.rules.crawl_delay(ROBOTS_AGENT) if self.rules else None
        return float(delay or 0.0)

    def sitemaps(self) -> list[str]:
        """The sitemaps the robots.txt lists."""
        return list(self.rules.sitemaps) if self.rules else []


class PoliteClient:
    """GETs that obey robots.txt, pace each host and follow bounded redirects."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: FollowState | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.session = session
        self.store = store
        self.clock = clock
        self._hosts: dict[str, Host] = {}
        self._robots: dict[str, Robots] = {}
        self._robots_reads: dict[str, asyncio.Lock] = {}

    async def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """The final response to ``url`` after at most ``follow_max_redirects`` redirects.

        FetchError for a URL robots.txt disallows (permanent), for too many
        redirects, a network error, and an error status (4xx, 5xx; a 429 or 503
        carries its ``retry_after``). A 304 is returned, not raised.
        """
        for _hop in range(self.settings.follow_max_redirects + 1):
            robots = await self.robots(url)
            if not robots.readable:
                raise FetchError(
                    f"{url}: the site's robots.txt cannot be read; nothing is "
                    "fetched from it until it can"
                )
            if not robots.allows(url):
                raise FetchError(f"{url}: disallowed by robots.txt", permanent=True)
            response = await self._paced(url, headers)
            if response.location is None:
                return _checked(response)
            url = urljoin(url, response.location)
        raise FetchError(f"{url}: more than {self.settings.follow_max_redirects} redirects")

    async def robots(self, url: str) -> Robots:
        """The robots.txt rules of ``url``'s site, read if not known or expired."""
        split = urlsplit(url)
        origin = f"{split.scheme}://{split.netloc}"
        lock = self._robots_reads.setdefault(origin, asyncio.Lock())
        async with lock:
            known = self._robots.get(origin)
            if known is None and self.store and (stored := self.store.robots(origin)):
                known = Robots.of(stored[0], True, stored[1])
            if known is None or known.expires <= time.time():
                body, readable, expires = await self._read_robots(origin)
                known = Robots.of(body, readable, expires)
                if self.store and readable:
                    self.store.save_robots(origin, body, expires)
            self._robots[origin] = known
            self._host(url).delay = max(self.settings.follow_min_delay_seconds, known.crawl_delay())
            return known

    async def _read_robots(self, origin: str) -> tuple[str | None, bool, float]:
        """The robots.txt of ``origin``: its text (None if there is none), whether it
        could be read, and until when (wall clock) the answer holds."""
        try:
            response = await self._paced(f"{origin}/robots.txt", None)
        except FetchError:
            return None, False, time.time() + ROBOTS_RETRY_SECONDS
        expires = time.time() + ROBOTS_TTL_SECONDS
        if response.status == 200:
            return (
                response.body.decode(response.charset or "utf-8", errors="replace"),
                True,
                expires,
            )
        if 300 <= response.status < 500:  # a missing robots.txt (redirects not followed)
            return None, True, expires
        return None, False, time.time() + ROBOTS_RETRY_SECONDS

    def _host(self, url: str) -> Host:
        name = urlsplit(url).hostname or ""
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = Host(self.settings.follow_min_delay_seconds)
        return host

    async def _paced(self, url: str, headers: dict[str, str] | None) -> Response:
        """One request, alone on its host and after the host's delay."""
        host = self._host(url)
        async with host.lock:
            wait = max(host.last_end + host.delay, host.held_until) - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await fetch(self.session, self.settings, url, headers)
            finally:
                host.last_end = self.clock()
            if response.status in RETRY_STATUSES:
                pause = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                host.held_until = max(host.held_until, host.last_end + (pause or 0.0))
            return response


def _checked(response: Response) -> Response:
    if response.status < 400:
        return response
    pause = (
        retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        if response.status in RETRY_STATUSES
        else None
    )
    raise FetchError(
        f"{response.url}: HTTP {response.status}", status=response.status, retry_after=pause
    )


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
