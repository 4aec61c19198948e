"""The store agent: the current stories in SQLite, for `newswire stories` to search."""

from __future__ import annotations

from faust.types import StreamT

from agents.runtime.context import StageContext
from schemas.records import Story
from streams.stories.store import StoryStore


class StoreAgent:
    """The store agent of ``context``, writing to ``store``."""

    def __init__(self, context: StageContext, store: StoryStore) -> None:
        self.context = context
        self.store = store
        context.app.agent(context.topics["stories"], name="store")(self.store_agent)

    async def store_agent(self, stream: StreamT) -> None:
        """stories -> SQLite, in batches, one transaction each.

        A story that cannot be read, or a batch that cannot be stored, is
        dead-lettered (the topic still has it). A story's versions come in order on
        its key's partition, and only the latest is kept: of several versions of one
        story in a batch, only the last is read.
        """
        async for stories in self.context.batches("store", stream, Story, last_per_key=True):
            try:
                with self.context.metrics.timed("store"):
                    self.store.upsert_many(story for _, story in stories)
            except Exception as exc:
                for event, _ in stories:
                    await self.context.dead_letter("store", event, exc)
