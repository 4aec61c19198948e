"""``newswire deadletter``: list the dead letters by stage and reason, and send chosen
ones through again once their cause is fixed.

A dead letter goes back to the topic its message came from (a ``clean`` or ``tag``
dead letter to the raw topic, ``dedup-route`` to ``articles.tagged``...), keyed by
its article id, with the value it had: the stages are idempotent by article id and
content, so a letter sent twice is a repeat the second time and changes nothing
downstream. The reader's dead
letters (stage ``replay``) have no topic: they go to the raw topic if they now parse
as a raw article. A letter that kept only a prefix of its message cannot be sent.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.runtime.broker import bootstrap_servers, tansu_end_offsets
from schemas.graph import DEAD_LETTERS, RAW
from schemas.records import DeadLetter, RawArticle
from schemas.settings import Settings
from streams.errors import describe_error

READ_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class Stored:
    """A dead letter and where it is in the dead-letter topic (``PARTITION:OFFSET``)."""

    partition: int
    offset: int
    letter: DeadLetter

    @property
    def position(self) -> str:
        """``PARTITION:OFFSET`` in the dead-letter topic: what ``--at`` selects."""
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Resend:
    """A record to send again: its topic, key and value."""

    topic: str
    key: bytes | None
    value: bytes


class Refused(Exception):
    """Why a dead letter cannot be sent again."""


async def read_dead_letters(settings: Settings) -> list[Stored]:
    """Every dead letter in the dead-letter topic now, in partition and offset order."""
    assert settings.broker_url, "reading dead letters needs a broker URL"
    topic = DEAD_LETTERS.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings.broker_url),
        enable_auto_commit=False,
        max_partition_fetch_bytes=settings.max_record_bytes,
    )
    await consumer.start()
    try:
        await consumer.topics()
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise LookupError(f"topic {topic} does not exist")
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        ends = (
            await tansu_end_offsets(consumer, partitions)
            if settings.tansu_profile
            else await consumer.end_offsets(partitions)
        )
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[Stored] = []
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=READ_TIMEOUT_MS)
            for tp, records in batches.items():
                letters.extend(
                    Stored(tp.partition, record.offset, DeadLetter.from_json(record.value))
                    for record in records
                    if record.offset < ends[tp] and record.value is not None
                )
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return sorted(letters, key=lambda stored: (stored.partition, stored.offset))
    finally:
        await consumer.stop()


def select(
    letters: Iterable[Stored],
    *,
    stages: Sequence[str] = (),
    reasons: Sequence[str] = (),
    article_ids: Sequence[str] = (),
    positions: Sequence[str] = (),
) -> list[Stored]:
    """The letters of any of ``stages`` and ``reasons`` (error types), ``article_ids``
    and ``positions`` (each criterion left empty selects all)."""
    return [
        stored
        for stored in letters
        if (not stages or stored.letter.stage in stages)
        and (not reasons or stored.letter.error_type in reasons)
        and (not article_ids or stored.letter.article_id in article_ids)
        and (not positions or stored.position in positions)
    ]


def resend_of(letter: DeadLetter, settings: Settings) -> Resend:
    """What sending ``letter`` again sends; :class:`Refused` if it cannot be sent."""
    if letter.payload_truncated:
        raise Refused(
            f"only {len(letter.payload)} of its {letter.payload_bytes} bytes were "
            "kept (NEWSWIRE_DEAD_LETTER_PAYLOAD_BYTES): replay its source instead"
        )
    value = (
        base64.b64decode(letter.payload)
        if letter.payload_encoding == "base64"
        else letter.payload.encode()
    )
    key = letter.article_id
    topic = letter.topic
    if topic is None:
        try:
            article = RawArticle.from_json(value)
        except Exception as error:
            raise Refused(f"it is still not a raw article: {describe_error(error)[1]}") from None
        topic, key = RAW.name(settings.topic_prefix), article.id
    return Resend(topic, key.encode() if key is not None else None, value)


async def send_again(settings: Settings, resends: Sequence[Resend]) -> None:
    """Send ``resends``, each to its topic; return once the broker has them all."""
    assert settings.broker_url, "sending needs a broker URL"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings.broker_url),
        max_request_size=settings.max_record_bytes,
    )
    await producer.start()
    try:
        for resend in resends:
            await producer.send_and_wait(resend.topic, resend.value, key=resend.key)
    finally:
        await producer.stop()


def format_letter(stored: Stored, reason_chars: int = 120) -> str:
    """A dead letter on one line: position, stage, error type, article id, reason."""
    letter = stored.letter
    reason = (
        letter.reason
        if len(letter.reason) <= reason_chars
        else (letter.reason[: reason_chars - 3] + "...")
    )
    return (
        f"{stored.position}  {letter.stage}  {letter.error_type}  "
        f"{letter.article_id or letter.location or '-'}  {reason}"
    )


def format_counts(letters: Iterable[Stored]) -> list[str]:
    """How many letters of each stage and reason, most first."""
    counts = Counter((stored.letter.stage, stored.letter.error_type) for stored in letters)
    return [f"{count:>6}  {stage}  {reason}" for (stage, reason), count in counts.most_common()]
