"""An ``auto`` broker profile resolved where the broker is known, on the real Tansu broker:
the embedded one, and a configured one that reports a Tansu cluster id."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.runtime.broker import EmbeddedBroker, broker_for, with_profile
from schemas.settings import BrokerProfile, Settings


@pytest.mark.parametrize(("profile", "resolved"), [("auto", "tansu"), ("kafka", "kafka")])
def test_the_embedded_broker_resolves_auto_to_tansu_and_keeps_an_explicit_profile(
    tmp_path: Path, profile: BrokerProfile, resolved: str
) -> None:
    settings = Settings(data_dir=tmp_path, embedded_broker_storage="memory", broker_profile=profile)
    with broker_for(settings) as bound:
        assert bound.broker_url
        assert bound.broker_profile == resolved


@pytest.mark.parametrize(("profile", "resolved"), [("auto", "tansu"), ("kafka", "kafka")])
def test_a_configured_tansu_broker_resolves_auto_to_tansu_and_keeps_an_explicit_profile(
    broker: EmbeddedBroker, profile: BrokerProfile, resolved: str
) -> None:
    settings = Settings(broker_url=broker.url, broker_profile=profile)
    with broker_for(settings) as bound:
        assert bound.broker_url == broker.url
        assert bound.broker_profile == resolved
    assert with_profile(settings).broker_profile == resolved
