"""Kafka record headers the agents pass along: the raw partition and offset an article was
ingested at, for the reorder buffer before the dedup decision (see :mod:`streams.reorder`)."""

from __future__ import annotations

from faust.types import EventT

from streams.reorder import IngestPosition

INGEST_PARTITION_HEADER = "newswire-ingest-partition"
INGEST_OFFSET_HEADER = "newswire-ingest-offset"


def ingest_headers(partition: int, offset: int) -> dict[str, bytes]:
    """The headers of a record of an article ingested at ``offset`` of raw ``partition``."""
    return {
        INGEST_PARTITION_HEADER: str(partition).encode(),
        INGEST_OFFSET_HEADER: str(offset).encode(),
    }


def ingest_position(event: EventT) -> IngestPosition | None:
    """Where the event's article was ingested, if its record says (the offset may be
    missing: then only the partition is known)."""
    headers = event.headers or {}
    try:
        partition = int(headers[INGEST_PARTITION_HEADER])
    except (KeyError, ValueError):
        return None
    try:
        return IngestPosition(partition, int(headers[INGEST_OFFSET_HEADER]))
    except (KeyError, ValueError):
        return IngestPosition(partition)
