"""Kafka record headers the agents pass along: the raw partition an article was ingested
through, for the reorder buffer before the dedup decision (see :mod:`streams.reorder`)."""

from __future__ import annotations

from faust.types import EventT

INGEST_PARTITION_HEADER = "newswire-ingest-partition"


def ingest_headers(partition: int) -> dict[str, bytes]:
    """The headers of a record of an article ingested through raw ``partition``."""
    return {INGEST_PARTITION_HEADER: str(partition).encode()}


def ingest_partition(event: EventT) -> int | None:
    """The raw partition the event's article was ingested through, if its record says."""
    value = (event.headers or {}).get(INGEST_PARTITION_HEADER)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
