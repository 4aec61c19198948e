"""Benchmark of ``newswire follow``: one follower, one pass over many feeds on many hosts.

``python -m newswire.follow.bench [--feeds 1000] [--hosts 50] [--entries 5]
[--delay 0.05]`` serves the feeds from a child process (one aiohttp server bound
to 127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8 is loopback on Linux), runs one
pass of the follower over them into memory (no broker: the follower's own cost),
and prints a JSON report: requests per second, the politeness the server saw
(most concurrent requests to one host, smallest gap between two requests to one
host), the follower's CPU per published article, and the size of its state
(``follow.sqlite``) per 10,000 articles seen.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from newswire.follow.feeds import FeedFollower, MemorySink
from schemas.settings import Settings

PORT = 8765


def host_address(number: int) -> str:
    """The loopback address of host ``number`` (0-based)."""
    return f"127.0.0.{number + 2}"


def _feed(host: str, feed: int, entries: int) -> bytes:
    items = "".join(
        f"<item><title>Story {feed}.{entry}</title><link>http://{host}:{PORT}/a/{feed}/"
        f"{entry}.html</link><description>Summary {entry}.</description></item>"
        for entry in range(entries)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{host}</title>'
        f"{items}</channel></rss>"
    ).encode()


def _serve(hosts: int, entries: int, ready: Connection, done: Connection) -> None:
    """Serve every host until ``done`` has a message; then send back what was seen."""
    active: Counter[str] = Counter()
    most: Counter[str] = Counter()
    ends: dict[str, float] = {}
    gaps: list[float] = []
    requests = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal requests
        host = request.host.split(":")[0]
        started = time.monotonic()
        if host in ends and not active[host]:
            gaps.append(started - ends[host])
        active[host] += 1
        most[host] = max(most[host], active[host])
        requests += 1
        await asyncio.sleep(0)
        path = request.path
        if path == "/robots.txt":
            response = web.Response(text="User-agent: *\nAllow: /\n")
        elif path.startswith("/feed/"):
            response = web.Response(
                body=_feed(host, int(path[6:-4]), entries), content_type="application/rss+xml"
            )
        else:
            response = web.Response(
                text=f"<html><body><article><h1>{path}</h1><p>Text of "
                f"{path} on {host}.</p></article></body></html>",
                content_type="text/html",
            )
        active[host] -= 1
        ends[host] = time.monotonic()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for number in range(hosts):
            await web.TCPSite(runner, host_address(number), PORT).start()
        ready.send(True)
        while not done.poll():
            await asyncio.sleep(0.05)
        done.recv()
        done.send(
            {
                "requests": requests,
                "most_concurrent_per_host": max(most.values()),
                "smallest_gap_seconds": min(gaps, default=None),
            }
        )
        await runner.cleanup()

    asyncio.run(main())


def run(feeds: int, hosts: int, entries: int, delay: float) -> dict[str, Any]:
    """One pass of a follower over ``feeds`` feeds spread over ``hosts`` hosts."""
    ready_in, ready_out = multiprocessing.Pipe(duplex=False)
    control, server_end = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(hosts, entries, ready_out, server_end))
    server.start()
    ready_in.recv()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data), follow_allow_loopback=True, follow_min_delay_seconds=delay
        )
        sources = [
            f"http://{host_address(feed % hosts)}:{PORT}/feed/{feed}.xml" for feed in range(feeds)
        ]
        sink = MemorySink()
        follower = FeedFollower(settings, sources, sink, report=lambda _line: None)
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(follower.run(once=True))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        state_bytes = sum(path.stat().st_size for path in Path(data).glob("follow.sqlite*"))
    control.send("stop")
    seen = control.recv()
    server.join()
    published = len(sink.messages)
    return {
        "feeds": feeds,
        "hosts": hosts,
        "articles_published": published,
        "seconds": round(wall, 2),
        "requests_per_second": round(seen["requests"] / wall, 1),
        **seen,
        "min_delay_seconds": delay,
        "cpu_ms_per_article": round(1000 * cpu / max(published, 1), 3),
        "state_bytes_per_10k_articles": round(state_bytes * 10_000 / max(published, 1)),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--entries", type=int, default=5, help="entries per feed")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.05,
        help="follow_min_delay_seconds (the default of 1 s makes a long run)",
    )
    args = parser.parse_args(argv)
    report = run(args.feeds, args.hosts, args.entries, args.delay)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
