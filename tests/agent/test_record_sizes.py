"""Every record newswire sends fits what its producers, consumers and brokers accept."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from agents.runtime.app import faust_options
from schemas.settings import BrokerProfile, Settings


@pytest.mark.parametrize("broker_profile", ["tansu", "kafka"])
def test_a_workers_producer_and_consumer_take_its_largest_record(
    tmp_path: Path, broker_profile: BrokerProfile
) -> None:
    settings = Settings(
        broker_url="kafka://127.0.0.1:9",
        broker_profile=broker_profile,
        data_dir=tmp_path,
        max_article_bytes=3_000_000,
    )
    conf = faust.App("sizes", **faust_options(settings)).conf
    assert conf.producer_max_request_size >= settings.max_record_bytes > 6_000_000
    assert conf.consumer_max_fetch_size >= settings.max_record_bytes
