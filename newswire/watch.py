"""Reading the pipeline's output topics, as a downstream consumer does."""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.runtime.broker import bootstrap_servers
from agents.runtime.tansu import TANSU_FETCH_MAX_WAIT_MS
from schemas.graph import DEAD_LETTERS, ENRICHED, STORIES
from schemas.records import DeadLetter, EnrichedArticle, Story
from schemas.settings import Settings


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
        fetch_max_wait_ms=TANSU_FETCH_MAX_WAIT_MS if settings.tansu_profile else 500,
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


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the board last saw an article: its story, its revision, the original it copies."""

    story_id: str
    revision: int
    duplicate_of: str | None


@dataclass(frozen=True, slots=True)
class StoryMark:
    """What the board tracks of a story's latest version."""

    story_id: str
    version: int
    article_ids: frozenset[str]
    article_count: int
    last_seen: datetime

    @classmethod
    def of(cls, story: Story) -> StoryMark:
        """The mark of ``story``."""
        return cls(
            story.story_id,
            story.version,
            frozenset(story.article_ids),
            story.article_count,
            story.last_seen,
        )


@dataclass
class StoryBoard:
    """Current state built from the output topics: where each article is and each story's
    latest version, and, with :attr:`details`, their latest records."""

    placements: dict[str, Placement] = field(default_factory=dict)
    story_marks: dict[str, StoryMark] = field(default_factory=dict)
    stories: dict[str, Story] = field(default_factory=dict)
    """The latest record of each story (with :attr:`details` only)."""
    articles: dict[str, EnrichedArticle] = field(default_factory=dict)
    """The latest revision of each article (with :attr:`details` only)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    deliveries: Counter[str] = field(default_factory=Counter)
    """How many times each article reached the enriched topic (replays re-deliver)."""
    dead_ids: set[str] = field(default_factory=set)
    """The article ids of the dead letters."""
    pending: set[str] = field(default_factory=set)
    """The articles :meth:`expect` was given that are not yet :meth:`settled`."""
    revisions: dict[str, int] = field(default_factory=dict)
    """The revision :meth:`expect` waits for, of the articles published in several."""
    details: bool = True
    """Whether the records are held too; without them an article costs its placement
    (a few hundred bytes, with its delivery count), for a run that only tracks and
    summarises."""

    def apply(self, settings: Settings, topic: str, value: bytes) -> Story | None:
        """Take one output record; return the story if this record changed one."""
        prefix = settings.topic_prefix
        if topic == STORIES.name(prefix):
            story: Story = Story.from_json(value)
            current = self.story_marks.get(story.story_id)
            if current is None or story.version > current.version:
                self.story_marks[story.story_id] = StoryMark.of(story)
                if self.details:
                    self.stories[story.story_id] = story
                self._settle(story.article_ids)
                return story
        elif topic == ENRICHED.name(prefix):
            article: EnrichedArticle = EnrichedArticle.from_json(value)
            held = self.placements.get(article.id)
            if held is None or article.revision >= held.revision:  # the latest revision
                self.placements[article.id] = Placement(
                    article.story_id, article.revision, article.duplicate_of
                )
                if self.details:
                    self.articles[article.id] = article
            self.deliveries[article.id] += 1
            self._settle([article.id])
        elif topic == DEAD_LETTERS.name(prefix):
            letter: DeadLetter = DeadLetter.from_json(value)
            self.dead_letters.append(letter)
            if letter.article_id is not None:
                self.dead_ids.add(letter.article_id)
                self._settle([letter.article_id])
        return None

    def expect(self, article_ids: Iterable[str] | Mapping[str, int]) -> None:
        """Follow these articles (and, given a mapping, wait for that revision of each):
        those not yet settled are kept in :attr:`pending`, updated as records come (so
        waiting for many articles costs no rescans)."""
        self._wait_for_revisions(article_ids)
        self.pending.update(article_ids)
        self._settle(list(self.pending))

    def _wait_for_revisions(self, article_ids: Iterable[str] | Mapping[str, int]) -> None:
        """Given a mapping of article id -> revision, wait for at least that revision."""
        if isinstance(article_ids, Mapping):
            self.revisions.update((key, rev) for key, rev in article_ids.items() if rev > 1)

    def _settle(self, article_ids: Iterable[str]) -> None:
        for article_id in article_ids:
            if article_id in self.pending and self.settled(article_id):
                self.pending.discard(article_id)

    def settled(self, article_id: str) -> bool:
        """Whether the article is dead-lettered or listed in the current version of its story."""
        return article_id in self.dead_ids or self.placed(article_id)

    def placed(self, article_id: str) -> bool:
        """Whether the article (in the revision :meth:`expect` waits for, if any) is
        listed in the current version of its story."""
        placement = self.placements.get(article_id)
        if placement is None or placement.revision < self.revisions.get(article_id, 1):
            return False
        story = self.story_marks.get(placement.story_id)
        return story is not None and article_id in story.article_ids

    def done_with(self, article_ids: Iterable[str] | Mapping[str, int]) -> bool:
        """Whether each id is dead-lettered or listed in the current version of its story
        (given a mapping, in at least that revision)."""
        self._wait_for_revisions(article_ids)
        return all(self.settled(article_id) for article_id in article_ids)


def format_story(story: Story) -> str:
    """A story as a person reads it on a terminal."""
    copies = story.article_count - story.unique_article_count
    sources = f" · {plural(len(story.sources), 'source')}" if story.sources else ""
    lines = [
        f"story {story.story_id} v{story.version} · {plural(story.article_count, 'article')}"
        f" ({plural(copies, 'duplicate')}){sources}",
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
    return (
        f"dead letter from {letter.stage}: {letter.error_type}: {letter.reason}"
        f" (article {letter.article_id})"
    )


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1: "1 article", "2 stories"."""
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"


@dataclass(frozen=True)
class RunSummary:
    """What one replay came to: its articles, where they went, how long it took."""

    articles: int
    placed: int
    stories: int
    copies: int
    revisions: int
    dead_letters: Counter[tuple[str, str]]
    """Dead letters by (stage, reason code)."""
    unsettled: int
    """Articles neither in a story nor dead-lettered (yet)."""
    seconds: float

    @property
    def dead_lettered(self) -> int:
        """How many dead letters the run wrote."""
        return sum(self.dead_letters.values())


def belongs_to_run(letter: DeadLetter, article_ids: set[str], since: datetime) -> bool:
    """Whether a dead letter is one of a run's: for one of its articles, or written
    since it started (the replay reader's letters of unreadable lines have no article)."""
    return letter.article_id in article_ids or letter.failed_at >= since


def summarize(
    board: StoryBoard, article_ids: Iterable[str], since: datetime, seconds: float
) -> RunSummary:
    """The summary of a run that published ``article_ids`` at ``since``."""
    ids = set(article_ids)
    placed = [board.placements[article_id] for article_id in ids if board.placed(article_id)]
    letters = [letter for letter in board.dead_letters if belongs_to_run(letter, ids, since)]
    return RunSummary(
        articles=len(ids),
        placed=len(placed),
        stories=len({placement.story_id for placement in placed}),
        copies=sum(placement.duplicate_of is not None for placement in placed),
        revisions=sum(placement.revision > 1 for placement in placed),
        dead_letters=Counter((letter.stage, letter.error_type) for letter in letters),
        unsettled=sum(not board.settled(article_id) for article_id in ids),
        seconds=seconds,
    )


def format_summary(summary: RunSummary) -> str:
    """A run's summary on one line, e.g. "newswire: done in 7.9 s: 6 articles · 5 in 1
    story · 1 copy · 0 revisions · 1 dead letter (clean/invalid_json 1)"."""
    parts = [
        plural(summary.articles, "article"),
        f"{summary.placed} in {plural(summary.stories, 'story', 'stories')}",
        plural(summary.copies, "copy", "copies"),
        plural(summary.revisions, "revision"),
        plural(summary.dead_lettered, "dead letter"),
    ]
    if summary.dead_letters:
        causes = ", ".join(
            f"{stage}/{reason} {count}"
            for (stage, reason), count in sorted(summary.dead_letters.items())
        )
        parts[-1] += f" ({causes})"
    if summary.unsettled:
        parts.append(f"{summary.unsettled} not yet in a story")
    return f"newswire: done in {summary.seconds:.1f} s: {' · '.join(parts)}"


def format_progress(published: int, placed: int, dead_lettered: int) -> str:
    """How far a replay has come, on one line."""
    return (
        f"newswire: {plural(published, 'article')} published · {placed} in stories"
        f" · {dead_lettered} dead-lettered"
    )


def largest_stories(stories: Iterable[StoryMark], count: int) -> list[StoryMark]:
    """The ``count`` stories with the most articles (the newest first among equals)."""
    return sorted(
        stories,
        key=lambda story: (-story.article_count, -story.last_seen.timestamp(), story.story_id),
    )[:count]


class StatusLine:
    """Progress on ``stream``: rewritten in place on a terminal; elsewhere (a file, a
    pipe) a new line at most every ``every`` seconds, and only when it changed."""

    TERMINAL_REFRESH_SECONDS = 0.1

    def __init__(
        self,
        stream: TextIO,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
    ) -> None:
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self._every = self.TERMINAL_REFRESH_SECONDS if self.terminal else every
        self._clock = clock
        self._last_shown_at = clock()
        self._shown = ""

    def due(self) -> bool:
        """Whether an update would be shown now (the progress may be worth computing)."""
        return self._clock() - self._last_shown_at >= self._every

    def update(self, text: str) -> None:
        """Show ``text`` as the progress, unless it was shown just now or is unchanged."""
        if text == self._shown or not self.due():
            return
        if self.terminal:
            self.stream.write(f"\r{text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown, self._last_shown_at = text, self._clock()

    def clear(self) -> None:
        """Take the progress off the terminal (before other output)."""
        if self.terminal and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = ""

    def say(self, text: str) -> None:
        """Write a line of its own (the progress comes back with the next update)."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()
