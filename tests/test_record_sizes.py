"""Every record newswire sends fits what its producers, consumers and brokers accept."""

from __future__ import annotations

from pathlib import Path

import faust
import yaml

from agents.runtime.app import faust_options
from schemas.settings import Settings
from tests.conftest import PROJECT


def test_a_workers_producer_and_consumer_take_its_largest_record(tmp_path: Path) -> None:
    settings = Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path,
                        max_article_bytes=3_000_000)
    conf = faust.App("sizes", **faust_options(settings)).conf
    assert conf.producer_max_request_size >= settings.max_record_bytes > 6_000_000
    assert conf.consumer_max_fetch_size >= settings.max_record_bytes


def test_the_compose_kafka_takes_the_largest_record_of_its_worker() -> None:
    services = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())["services"]
    worker_env = services["worker"]["environment"]
    max_article_bytes = worker_env.get("NEWSWIRE_MAX_ARTICLE_BYTES",
                                       Settings.model_fields["max_article_bytes"].default)
    largest = Settings(max_article_bytes=int(max_article_bytes)).max_record_bytes
    kafka_env = services["kafka"]["environment"]
    for limit in ("KAFKA_MESSAGE_MAX_BYTES", "KAFKA_REPLICA_FETCH_MAX_BYTES"):
        assert int(kafka_env[limit]) >= largest, limit
