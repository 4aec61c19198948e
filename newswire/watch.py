"""Reading the pipeline's output topics, as a downstream consumer does."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.tansu import TANSU_FETCH_MAX_WAIT_MS
from newswire.broker import bootstrap_servers
from newswire.settings import Settings
from schemas.records import DeadLetter, EnrichedArticle, Story
from schemas.topics import DEAD_LETTERS, ENRICHED, STORIES


async def consume(
    settings: Settings, topic_names: Iterable[str], *, since: datetime | None = None
) -> AsyncIterator[tuple[str, bytes | None, bytes]]:
    """Yield (topic, key, value) of every record of ``topic_names``, from the beginning.

    No consumer group: every partition is read from its first offset, so each
    caller sees the whole topic. With ``since``, records older than it are
    skipped (by record timestamp), which gives "from now" on any broker.
    """
    assert settings.broker_url, "consume needs a broker URL"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings.broker_url),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=settings.max_record_bytes,
        # Tansu answers a fetch only when the wait runs out: keep it short there.
        fetch_max_wait_ms=TANSU_FETCH_MAX_WAIT_MS if settings.embedded_profile else 500,
    )
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for name in topic_names:
            ids = await _partitions_of(consumer, name)
            partitions.extend(TopicPartition(name, number) for number in ids)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        since_ms = since.timestamp() * 1000 if since else None
        async for record in consumer:
            if since_ms is None or record.timestamp >= since_ms:
                yield record.topic, record.key, record.value
    finally:
        await consumer.stop()


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refreshes the cluster metadata
    partitions: set[int] | None = consumer.partitions_for_topic(topic)
    if not partitions:
        raise LookupError(f"topic {topic} does not exist")
    return partitions


@dataclass
class StoryBoard:
    """Current state built from the output topics: latest stories and articles."""

    stories: dict[str, Story] = field(default_factory=dict)
    articles: dict[str, EnrichedArticle] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    deliveries: Counter[str] = field(default_factory=Counter)
    """How many times each article reached the enriched topic (replays re-deliver)."""

    def apply(self, settings: Settings, topic: str, value: bytes) -> Story | None:
        """Take one output record; return the story if this record changed one."""
        prefix = settings.topic_prefix
        if topic == STORIES.name(prefix):
            story: Story = Story.from_json(value)
            current = self.stories.get(story.story_id)
            if current is None or story.version > current.version:
                self.stories[story.story_id] = story
                return story
        elif topic == ENRICHED.name(prefix):
            article: EnrichedArticle = EnrichedArticle.from_json(value)
            held = self.articles.get(article.id)
            if held is None or article.revision >= held.revision:  # the latest revision
                self.articles[article.id] = article
            self.deliveries[article.id] += 1
        elif topic == DEAD_LETTERS.name(prefix):
            self.dead_letters.append(DeadLetter.from_json(value))
        return None

    def done_with(self, article_ids: Iterable[str]) -> bool:
        """Whether each id is dead-lettered or listed in the current version of its story."""
        dead = {letter.article_id for letter in self.dead_letters}
        for article_id in article_ids:
            if article_id in dead:
                continue
            article = self.articles.get(article_id)
            story = self.stories.get(article.story_id) if article else None
            if story is None or article_id not in story.article_ids:
                return False
        return True


def format_story(story: Story) -> str:
    """A story as a person reads it on a terminal."""
    copies = story.article_count - story.unique_article_count
    lines = [
        f"story {story.story_id} v{story.version} · {story.article_count} articles"
        f" ({copies} duplicate{'s' if copies != 1 else ''}) · {len(story.sources)} sources",
        f"  {story.headline}",
    ]
    if story.summary:
        lines += textwrap.wrap(story.summary, 96, initial_indent="  ", subsequent_indent="  ")
    people = [e.name for e in story.entities if e.type == "PERSON"][:6]
    orgs = [e.name for e in story.entities if e.type == "ORG"][:6]
    places = [e.name for e in story.entities if e.type == "LOC"][:6]
    for label, names in (("people", people), ("organisations", orgs), ("places", places)):
        if names:
            lines.append(f"  {label}: {', '.join(names)}")
    for member in story.members:
        copy = f"  [copy of {member.duplicate_of}]" if member.duplicate_of else ""
        lines.append(f"  - {member.id} {member.title or '(no title)'}{copy}")
    return "\n".join(lines)


def format_dead_letter(letter: DeadLetter) -> str:
    """A dead letter on one line."""
    return (f"dead letter from {letter.stage}: {letter.error_type}: {letter.reason}"
            f" (article {letter.article_id})")
