"""faust's worker, without its fixed wait at stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents.runtime.logs import use_json_logs

SHUTDOWN_GRACE_SECONDS = 0.05
"""How long the event loop runs on once the worker's services have stopped."""


class PromptWorker(faust.Worker):
    """faust's worker, without the second that mode waits before closing the event loop;
    with ``json_logs``, its logs are JSON lines (see :class:`agents.runtime.logs.JSONFormatter`)."""

    def __init__(self, *services: Any, json_logs: bool = False, **options: Any) -> None:
        self.json_logs = json_logs
        super().__init__(*services, **options)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """Format the root logger's handlers as JSON lines if asked."""
        if self.json_logs:
            use_json_logs(logger)

    async def _sentinel_task(self) -> None:
        # mode runs this last, for callbacks scheduled while stopping; the services
        # have stopped by then (producer flushed, offsets committed): a few loop
        # iterations run them.
        await asyncio.sleep(SHUTDOWN_GRACE_SECONDS)
