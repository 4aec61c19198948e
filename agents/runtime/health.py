"""The worker's health: live while its event loop answers; ready once its partitions are
assigned (and their tables recovered), and its stage processes answer with the model
loaded."""

from __future__ import annotations

import asyncio
from typing import Protocol

from faust import web
from faust.types import AppT
from prometheus_client import CollectorRegistry, generate_latest

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
"""The Prometheus text format that ``generate_latest`` writes."""
STAGE_PROBE_SECONDS = 5.0
"""How often the stage processes are asked whether they answer."""
STAGE_PROBE_TIMEOUT_SECONDS = 30.0
"""How long they may take to answer (a batch of NER may be ahead of the probe)."""


class Probed(Protocol):
    """What answers the health probe: the stage processes."""

    async def answers(self, timeout: float) -> bool:
        """Whether it answers within ``timeout`` seconds, ready to work."""
        ...


class Health:
    """The readiness of ``app``'s worker, with ``stages`` probed every
    :data:`STAGE_PROBE_SECONDS`."""

    def __init__(self, app: AppT, stages: Probed) -> None:
        self.app = app
        self.stages = stages
        self.stages_up = False
        self._assigned = False
        app.on_rebalance_complete.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.task(self._probe_forever)

    async def _on_assigned(self, *_: object, **__: object) -> None:
        self._assigned = True

    async def _on_revoked(self, *_: object, **__: object) -> None:
        self._assigned = False

    async def _probe_forever(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(STAGE_PROBE_SECONDS)

    async def probe(self) -> None:
        """Ask the stage processes whether they answer, with the model loaded."""
        self.stages_up = await self.stages.answers(STAGE_PROBE_TIMEOUT_SECONDS)

    @property
    def partitions_assigned(self) -> bool:
        """Whether the worker has its partitions (and their tables are recovered)."""
        return self._assigned and not self.app.rebalancing and bool(self.app.consumer.assignment())

    def checks(self) -> dict[str, bool]:
        """Each condition of readiness and whether it holds."""
        return {
            "partitions_assigned": self.partitions_assigned,
            "stage_processes_up": self.stages_up,
        }

    @property
    def ready(self) -> bool:
        """Whether the worker is ready to work: every check holds."""
        return all(self.checks().values())


def add_web_views(app: AppT, health: Health, registry: CollectorRegistry) -> None:
    """Serve ``/metrics`` (``registry``, Prometheus text format), ``/health/live`` and
    ``/health/ready`` (200, or 503 with the checks that fail) on ``app``'s web port."""

    @app.page("/metrics")
    async def metrics(view: web.View, request: web.Request) -> web.Response:
        # aiohttp adds the charset (utf-8) itself, and refuses a content type with one.
        return view.text(generate_latest(registry).decode(), content_type=PROMETHEUS_TEXT)

    @app.page("/health/live")
    async def live(view: web.View, request: web.Request) -> web.Response:
        return view.json({"live": True})

    @app.page("/health/ready")
    async def ready(view: web.View, request: web.Request) -> web.Response:
        checks = health.checks()
        ok = all(checks.values())
        return view.json({"ready": ok, **checks}, status=200 if ok else 503)
