"""The faust transport of the embedded-broker profile (``tansu://HOST:PORT``).

Tansu answers a fetch only when its wait time runs out, even if records arrive
meanwhile; faust waits up to 1.5 s per fetch, which would add that much latency
to every hop of the pipeline. This transport is faust's aiokafka transport with
a short fetch wait. It is registered under the ``faust.transports`` entry point
(see pyproject.toml) and used only with ``Settings.embedded_profile``.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

TANSU_FETCH_MAX_WAIT_MS = 50


class TansuConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread, with a fetch wait that suits Tansu."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes 1500 ms and aiokafka reads the value at start().
        consumer._fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS
        return consumer


class TansuConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer using :class:`TansuConsumerThread`."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport for the embedded Tansu broker."""

    Consumer = TansuConsumer
