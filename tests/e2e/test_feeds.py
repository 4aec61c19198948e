"""Following feeds into the raw topic of a real broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from agents.runtime.broker import bootstrap_servers
from newswire.follow.feeds import FeedFollower
from newswire.replay.inputs import RawPublisher, stable_id
from newswire.watch import consume
from schemas.graph import RAW
from schemas.records import RawArticle
from schemas.settings import Settings
from tests.site import ATOM_ITEMS, LOOPBACK_FOLLOWING, RSS_ITEMS, Site, serve_news

END_MARKER = b"end-of-test"


async def mark_end(settings: Settings, topic: str) -> int:
    """Append an end marker to each partition of ``topic``; return how many were sent."""
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
    settings = pipeline_settings.model_copy(update=LOOPBACK_FOLLOWING)
    topic = RAW.name(settings.topic_prefix)
    lines: list[str] = []

    async def follow_then_read() -> list[tuple[bytes | None, bytes]]:
        stop = asyncio.Event()
        async with RawPublisher(settings) as publisher:
            follower = FeedFollower(
                settings,
                [site.url("/rss.xml"), site.url("/atom.xml")],
                publisher,
                interval=0.05,
                report=lines.append,
            )
            running = asyncio.create_task(follower.run(stop))
            while min(site.hits("/rss.xml"), site.hits("/atom.xml")) < 3:  # three polls each
                await asyncio.sleep(0.02)
            stop.set()
            await running
        markers = await mark_end(settings, topic)
        records: list[tuple[bytes | None, bytes]] = []
        async for _topic, key, value in consume(settings, [topic]):
            if key == END_MARKER:
                markers -= 1
                if markers == 0:
                    return records
            else:
                records.append((key, value))
        return records

    records = asyncio.run(asyncio.wait_for(follow_then_read(), 30))
    urls = [site.url(item.path) for item in (*RSS_ITEMS, *ATOM_ITEMS)]
    assert len(records) == len(urls)
    published = {RawArticle.from_json(value).url: key for key, value in records}
    assert published == {url: stable_id(url=url).encode() for url in urls}
    assert sorted(line for line in lines if "published" in line) == sorted(
        f"newswire: published {url} (revision 1)" for url in urls
    )
