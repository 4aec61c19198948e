"""faust's worker, without its fixed wait at stop."""

from __future__ import annotations

import asyncio

import faust

SHUTDOWN_GRACE_SECONDS = 0.05
"""How long the event loop runs on once the worker's services have stopped."""


class PromptWorker(faust.Worker):
    """faust's worker, without the second that mode waits before closing the event loop."""

    async def _sentinel_task(self) -> None:
        # mode runs this last, for callbacks scheduled while stopping; the services
        # have stopped by then (producer flushed, offsets committed): a few loop
        # iterations run them.
        await asyncio.sleep(SHUTDOWN_GRACE_SECONDS)
