"""newswire's faust transport commits no offset past a record still held."""

from __future__ import annotations

import faust
from faust.types import TP
from faust.types.tuples import Message

from agents.runtime.tansu import TansuConsumer

RAW = TP("raw", 0)


def _delivered(consumer: TansuConsumer, offset: int) -> Message:
    message = Message(
        topic=RAW.topic,
        partition=RAW.partition,
        offset=offset,
        timestamp=0.0,
        timestamp_type=0,
        headers=[],
        key=b"k",
        value=b"v",
        checksum=None,
        tp=RAW,
    )
    consumer.track_message(message)
    return message


def test_a_record_acknowledged_after_the_next_one_is_not_committed_past_while_held() -> None:
    app = faust.App("transport-test", broker="tansu://127.0.0.1:1")
    consumer = app.consumer
    assert isinstance(consumer, TansuConsumer)
    app.topics.acking_topics.add(RAW.topic)
    consumer._committed_offset[RAW] = 5  # the next record to process
    held, released = _delivered(consumer, 5), _delivered(consumer, 6)
    consumer.ack(released)  # the reorder buffer let the later record go first
    assert consumer._new_offset(RAW) is None  # faust's own would commit 7, past 5
    consumer.ack(held)
    assert consumer._new_offset(RAW) == 7
