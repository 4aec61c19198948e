"""The clean agent: raw articles cleaned and tagged in one call of the stage process per batch.

A clean article goes to the partition number its raw article came from: the raw
topic's even spread (see :class:`newswire.replay.inputs.RawPublisher`) then holds for
NER too, where a hash of the ids would leave one partition several percent more
articles (275 and 249 of the benchmark's 524).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import faust
from faust.types import EventT, StreamT

from agents.runtime.context import StageContext
from agents.runtime.headers import ingest_headers
from agents.runtime.stage_processes import Prepared, StageRunner
from schemas.graph import CLEAN, CLEAN_STAGE, TAG_STAGE, TAGGED


class CleanAgent:
    """The clean agent of ``context`` (cleaning and NER in ``stages``)."""

    def __init__(self, context: StageContext, stages: StageRunner) -> None:
        self.context = context
        self.stages = stages
        self.agents = {CLEAN_STAGE.name: self.clean_agent}

    async def clean_agent(self, stream: StreamT) -> None:
        """raw -> clean and tagged: extract text and metadata, then NER, in batches."""
        settings = self.context.settings
        batches = cast(faust.Stream[bytes], stream).take_events(
            settings.batch_size, within=settings.batch_seconds
        )
        async for events in batches:
            if sized := await self._sized(events):
                await self._prepare_batch(sized)

    async def _sized(self, events: Sequence[EventT]) -> list[EventT]:
        """The events within ``max_article_bytes``; the others dead-lettered."""
        sized: list[EventT] = []
        for event in events:
            try:
                self.context.check_size(event)
                sized.append(event)
            except Exception as exc:
                await self.context.dead_letter(CLEAN_STAGE.name, event, exc)
        return sized

    async def _prepare_batch(self, events: list[EventT]) -> None:
        """Clean and tag the raw articles of ``events``, then send each one's records in
        ingest order (``fetched_at``, then id): the clean one to the partition its raw
        article came from, the tagged one by key, both with that partition as their
        ingest partition.

        Partitions are consumed in parallel and interleave; sorting each batch keeps
        a replay in the order it was published within the batch (which decides which
        of two copies is the original; articles in different batches keep the
        batches' order, see the README's Known limits).

        A refused article is dead-lettered with the stage that refused it, as is a
        record that cannot be sent; if the batch fails as a whole, each article is
        retried alone, so only the bad one is dead-lettered.
        """
        try:
            batch = await self.stages.prepare([event.value for event in events])
        except Exception as exc:
            if len(events) > 1:
                for event in events:
                    await self._prepare_batch([event])
            else:
                await self.context.dead_letter(CLEAN_STAGE.name, events[0], exc)
            return
        for stage, seconds in batch.seconds.items():
            self.context.metrics.observe(stage, seconds)
        prepared: list[tuple[EventT, Prepared]] = []
        for event, result in zip(events, batch.results, strict=True):
            if isinstance(result, Prepared):
                prepared.append((event, result))
            else:
                await self.context.dead_letter(CLEAN_STAGE.name, event, result)
        prepared.sort(key=lambda item: (item[1].fetched_at, item[1].article_id))
        for event, article in prepared:
            await self._send_prepared(event, article)

    async def _send_prepared(self, event: EventT, article: Prepared) -> None:
        """Send ``article``'s clean record, then its tagged one (handed to the tag stage);
        dead-letter what cannot go."""
        raw_partition = event.message.partition
        headers = ingest_headers(raw_partition)
        try:
            await self.context.send(
                CLEAN, article.article_id, article.clean, raw_partition, headers
            )
        except Exception as exc:  # e.g. a record over the producer's request size
            await self.context.dead_letter(CLEAN_STAGE.name, event, exc)
            return
        self.context.metrics.received(TAG_STAGE.name)
        try:
            if isinstance(article.tagged, Exception):
                raise article.tagged
            await self.context.send(
                TAGGED, article.article_id, article.tagged, headers=headers, stage=TAG_STAGE.name
            )
        except Exception as exc:
            await self.context.dead_letter(TAG_STAGE.name, event, exc)
