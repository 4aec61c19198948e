"""The store agent: the current stories in SQLite, for `newswire stories` to search."""

from __future__ import annotations

from faust.types import StreamT

from agents.runtime.context import StageContext
from schemas.graph import STORE_STAGE
from schemas.records import Story
from streams.stories.store import StoryStore


class StoreAgent:
    """The store agent of ``context``, writing to ``store``."""

    def __init__(self, context: StageContext, store: StoryStore) -> None:
        self.context = context
        self.store = store
        self.agents = {STORE_STAGE.name: self.store_agent}

    async def store_agent(self, stream: StreamT) -> None:
        """stories -> SQLite, in batches, one transaction each.

        A story that cannot be read, or a batch that cannot be stored, is
        dead-lettered (the topic still has it). A story's versions come in order on
        its key's partition, and only the latest is kept: of several versions of one
        story in a batch, only the last is read.
        """
        batches = self.context.batches(STORE_STAGE.name, stream, Story, last_per_key=True)
        async for stories in batches:
            try:
                with self.context.metrics.timed(STORE_STAGE.name):
                    self.store.upsert_many(story for _, story in stories)
            except Exception as exc:
                for event, _ in stories:
                    await self.context.dead_letter(STORE_STAGE.name, event, exc)
