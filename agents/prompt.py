"""faust's table manager and worker, without their fixed waits at start and at stop."""

from __future__ import annotations

import asyncio

import faust
from faust.tables import TableManager

SHUTDOWN_GRACE_SECONDS = 0.05
"""How long the event loop runs on once the worker's services have stopped."""


class PromptTableManager(TableManager):
    """faust's table manager, which starts its tables at once.

    faust's waits a second first, for tables an app defines as it starts; newswire
    defines every table with its agents, before the app starts (a table defined
    later still fails loudly: "Too late to add tables").
    """

    async def on_start(self) -> None:
        """Start the tables' changelog channels and their recovery."""
        await self._update_channels()
        await self.recovery.start()


class PromptWorker(faust.Worker):
    """faust's worker, without the second that mode waits before closing the event loop."""

    async def _sentinel_task(self) -> None:
        # mode runs this last, for callbacks scheduled while stopping; the services
        # have stopped by then (producer flushed, offsets committed): a few loop
        # iterations run them.
        await asyncio.sleep(SHUTDOWN_GRACE_SECONDS)
