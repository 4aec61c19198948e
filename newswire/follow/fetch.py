"""One bounded, safe HTTP GET: what the follower may ask a web server, and how much it reads.

Only ``http`` and ``https`` URLs are fetched, and only from public addresses:
private, link-local, multicast and reserved addresses are refused (loopback
too, unless ``Settings.follow_allow_loopback``), both for IP literals and for
what a host name resolves to, at connection time. A response is bounded in
time (``follow_timeout_seconds`` for the whole exchange) and in size
(``max_article_bytes``, before and after decompression: a gzip bomb is cut
off after that many inflated bytes). Redirects are not followed here: the
caller follows them, so that every hop is checked and paced
(:mod:`newswire.follow.politeness`).

aiohttp's own decompression is turned off because it inflates a chunk without
an output limit; the bounded inflater below is the few lines it lacks.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDictProxy

from schemas.settings import Settings

_CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class FetchError(Exception):
    """A URL could not be fetched; ``status`` is the HTTP status if there was one,
    ``retry_after`` the seconds the server asked to wait, ``permanent`` whether asking
    again cannot help (a refused URL)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Response:
    """A response read in full (decompressed)."""

    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    charset: str | None

    @property
    def location(self) -> str | None:
        """The redirect target, for a 3xx response that gives one."""
        return self.headers.get("Location") if 300 <= self.status < 400 else None


def check_url(url: str, allow_loopback: bool = False) -> str:
    """``url`` if the follower may fetch it (http or https, a host, no private IP
    literal); else a permanent FetchError saying why."""
    try:
        split = urlsplit(url)
        host = split.hostname
        split.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        host = None
    if split.scheme not in ("http", "https") or not host:
        raise FetchError(f"{url!r} is not an http or https URL", permanent=True)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url  # a host name: its addresses are checked when it is resolved
    if not is_public(address, allow_loopback):
        raise FetchError(f"{url}: {address} is not a public address", permanent=True)
    return url


def is_public(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool = False
) -> bool:
    """Whether the follower may connect to ``address``."""
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


class PublicResolver(AbstractResolver):
    """A resolver that only returns public addresses (see :func:`is_public`)."""

    def __init__(self, allow_loopback: bool) -> None:
        self._resolver = DefaultResolver()
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The public addresses of ``host``; OSError if it has none."""
        results = [
            result
            for result in await self._resolver.resolve(host, port, family)
            if is_public(ipaddress.ip_address(result["host"]), self._allow_loopback)
        ]
        if not results:
            raise OSError(f"{host} has no public address")
        return results

    async def close(self) -> None:
        """Release the wrapped resolver."""
        await self._resolver.close()


def open_session(settings: Settings) -> aiohttp.ClientSession:
    """The follower's HTTP session: its User-Agent, timeout and address policy."""
    return aiohttp.ClientSession(
        headers={"User-Agent": settings.follow_user_agent, "Accept-Encoding": "gzip, deflate"},
        timeout=aiohttp.ClientTimeout(total=settings.follow_timeout_seconds),
        connector=aiohttp.TCPConnector(resolver=PublicResolver(settings.follow_allow_loopback)),
        auto_decompress=False,
    )


async def fetch(
    session: aiohttp.ClientSession,
    settings: Settings,
    url: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """GET ``url`` once (no redirect followed), read within the limits of ``settings``."""
    check_url(url, settings.follow_allow_loopback)
    limit = settings.max_article_bytes
    try:
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            data = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                data += chunk
                if len(data) > limit:
                    raise FetchError(f"{url}: response larger than {limit:,} bytes")
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            body = inflate(bytes(data), limit) if encoding in ("gzip", "deflate") else bytes(data)
            return Response(
                str(response.url), response.status, response.headers, body, response.charset
            )
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise FetchError(f"{url}: {describe(error)}") from error


def inflate(data: bytes, limit: int) -> bytes:
    """``data`` (gzip or zlib) decompressed; FetchError past ``limit`` bytes or if corrupt."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
    try:
        output = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise FetchError(f"corrupt compressed body: {error}") from error
    if len(output) > limit:
        raise FetchError(f"body larger than {limit:,} bytes once decompressed")
    return output


def describe(error: BaseException) -> str:
    """A short description of a network error."""
    text: Any = str(error)
    return text or type(error).__name__
