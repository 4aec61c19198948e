"""The worker's logs: JSON lines if asked (:class:`JSONFormatter`), and a lost broker
logged as one line when it goes, reminders at growing intervals, one line when it is
back, instead of aiokafka's errors on every reconnect attempt."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

log = logging.getLogger("agents.runtime.broker")

# What aiokafka logs when it cannot reach a broker (its modules' loggers).
KAFKA_LOGGERS = (
    "aiokafka",
    "aiokafka.cluster",
    "aiokafka.conn",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
)
CONNECTION_FAILURES = (
    "KafkaConnectionError",
    "NodeNotReadyError",
    "Connection refused",
    "Unable connect to node",
    "Unable to update metadata",
)
FIRST_PROBE_SECONDS = 1.0
LONGEST_PROBE_SECONDS = 30.0
FIRST_REMINDER_SECONDS = 60.0


class BrokerOutageFilter(logging.Filter):
    """Drops aiokafka's warnings and errors while the broker is unreachable.

    The first connection failure starts an outage: it is logged as one line, and a
    thread probes the brokers (TCP connect) with a growing backoff. Until one
    answers, aiokafka's records are dropped; a reminder is logged after one minute,
    then after every doubling of the outage; the end of the outage is one line.
    """

    def __init__(self, servers: Sequence[tuple[str, int]]) -> None:
        super().__init__()
        self.servers = list(servers)
        self._outage: threading.Thread | None = None
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is written."""
        if self._outage is not None:
            self._dropped += 1
            return False
        message = record.getMessage()
        if not any(failure in message for failure in CONNECTION_FAILURES):
            return True
        log.error(
            "lost the Kafka broker (%s): %s; retrying until it is back", self._names(), message
        )
        self._dropped = 0
        self._outage = threading.Thread(target=self._probe, name="broker-outage", daemon=True)
        self._outage.start()
        return False

    def _probe(self) -> None:
        started = time.monotonic()
        wait, reminder = FIRST_PROBE_SECONDS, FIRST_REMINDER_SECONDS
        while not self._answers():
            time.sleep(wait)
            wait = min(wait * 2, LONGEST_PROBE_SECONDS)
            elapsed = time.monotonic() - started
            if elapsed >= reminder:
                log.error(
                    "the Kafka broker (%s) is still unreachable after %.0f s",
                    self._names(),
                    elapsed,
                )
                reminder *= 2
        log.warning(
            "the Kafka broker (%s) is back after %.0f s (%d broker errors not shown)",
            self._names(),
            time.monotonic() - started,
            self._dropped,
        )
        self._outage = None

    def _answers(self) -> bool:
        for host, port in self.servers:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return True
            except OSError:
                continue
        return False

    def _names(self) -> str:
        return ", ".join(f"{host}:{port}" for host, port in self.servers)


def quiet_broker_outages(bootstrap_servers: str) -> BrokerOutageFilter:
    """Install a :class:`BrokerOutageFilter` for ``host:port[,host:port]`` on aiokafka's
    loggers; return it."""
    servers = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.rpartition(":")
        servers.append((host.strip("[]"), int(port)))
    outage_filter = BrokerOutageFilter(servers)
    for name in KAFKA_LOGGERS:
        logging.getLogger(name).addFilter(outage_filter)
    return outage_filter


LOG_CONTEXT_FIELDS = ("stage", "article_id", "topic", "partition", "offset")
"""What a log record may carry (``extra=``) about the record it concerns."""


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the fields of
    :data:`LOG_CONTEXT_FIELDS` a record has, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        """``record`` as one line of JSON."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def use_json_logs(logger: logging.Logger) -> None:
    """Format every handler of ``logger`` with :class:`JSONFormatter`."""
    for handler in logger.handlers:
        handler.setFormatter(JSONFormatter())
