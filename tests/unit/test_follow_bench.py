"""A tiny run of the follower benchmark, so it cannot rot; politeness is asserted."""

from __future__ import annotations

from newswire.follow.bench import run


def test_a_tiny_follow_benchmark_keeps_one_request_per_host_and_the_delay() -> None:
    report = run(feeds=6, hosts=3, entries=2, delay=0.05)
    assert report["articles_published"] == 12
    assert report["requests"] == 3 + 6 + 12  # robots.txt per host, feeds, pages
    assert report["most_concurrent_per_host"] == 1
    assert report["smallest_gap_seconds"] >= 0.05
    assert report["cpu_ms_per_article"] > 0 and report["state_bytes_per_10k_articles"] > 0
