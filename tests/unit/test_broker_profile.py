"""The broker profile: ``auto`` resolved once the broker is known, explicit ones kept."""

from __future__ import annotations

import pytest

from schemas.settings import BrokerProfile, Settings, env_variable


@pytest.mark.parametrize(
    ("is_tansu", "resolved", "tansu_profile"), [(True, "tansu", True), (False, "kafka", False)]
)
def test_auto_becomes_the_profile_of_the_broker_found(
    is_tansu: bool, resolved: str, tansu_profile: bool
) -> None:
    settings = Settings(broker_profile="auto").with_broker_profile(tansu=is_tansu)
    assert settings.broker_profile == resolved
    assert settings.tansu_profile is tansu_profile


@pytest.mark.parametrize("profile", ["tansu", "kafka"])
@pytest.mark.parametrize("is_tansu", [True, False])
def test_an_explicit_profile_is_kept_whatever_the_broker(
    profile: BrokerProfile, is_tansu: bool
) -> None:
    settings = Settings(broker_profile=profile).with_broker_profile(tansu=is_tansu)
    assert settings.broker_profile == profile
    assert settings.tansu_profile is (profile == "tansu")


def test_the_default_profile_is_auto_and_refuses_to_be_used_unresolved() -> None:
    settings = Settings()
    assert settings.broker_profile == "auto"
    with pytest.raises(RuntimeError, match="broker_profile 'auto' is not resolved"):
        _ = settings.tansu_profile


def test_a_setting_is_named_by_its_environment_variable() -> None:
    assert env_variable("embedded_broker_storage") == "NEWSWIRE_EMBEDDED_BROKER_STORAGE"
    assert env_variable("broker_profile") == "NEWSWIRE_BROKER_PROFILE"
    with pytest.raises(KeyError, match="broker_storage"):
        env_variable("broker_storage")
