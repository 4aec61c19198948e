"""The README stays true: its commands are what CI runs, its settings are the real ones."""

from __future__ import annotations

import yaml

from newswire.settings import Settings
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci_lines = [line for line in (PROJECT / ".ci" / "run").read_text().splitlines()
                if line.startswith((".venv/", "python3 -m venv"))]
    assert len(ci_lines) == 2
    for line in ci_lines:
        assert f"\n{line}\n" in README, f"README does not show: {line}"


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`NEWSWIRE_{name.upper()}`" in README, name


def test_compose_file_configures_only_real_settings() -> None:
    compose = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    assert {"kafka", "worker"} <= set(compose["services"])
    fields = {f"NEWSWIRE_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("apache/kafka") or name == "worker":
            assert "healthcheck" in service, name
        for variable in service.get("environment", {}):
            if variable.startswith("NEWSWIRE_"):
                assert variable in fields, f"{name}: {variable} is not a setting"
    worker_env = compose["services"]["worker"]["environment"]
    assert worker_env["NEWSWIRE_BROKER_URL"] == "kafka://kafka:9092"
