"""The README and docs stay true: the README's commands are what CI runs, its settings are the
real ones, it stays short, and the documentation is about the software, inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from schemas.settings import Settings
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()
DOCUMENTS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
# How the project was developed has no place in its documentation; Kafka's session timeout has.
DEVELOPMENT_WORDS = re.compile(r"\bsessions?\b(?![ _]timeout)|the issue's", re.IGNORECASE)


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci_lines = [
        line
        for line in (PROJECT / ".ci" / "run").read_text().splitlines()
        if line.startswith((".venv/", "python3 -m venv"))
    ]
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


def test_readme_is_short() -> None:
    assert len(README.splitlines()) <= 260


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_documentation_names_no_path_outside_the_repository(document: Path) -> None:
    lines = [line for line in document.read_text().splitlines() if "../" in line]
    assert not lines, lines


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_documentation_is_about_the_software_not_its_development(document: Path) -> None:
    lines = [line for line in document.read_text().splitlines() if DEVELOPMENT_WORDS.search(line)]
    assert not lines, lines


def test_tests_cite_the_seed_spec_where_it_is() -> None:
    assert (PROJECT / "seeds/EXPECTED.md").is_file()
    for test_file in sorted((PROJECT / "tests").rglob("*.py")):
        for number, line in enumerate(test_file.read_text().splitlines(), start=1):
            for match in re.finditer(r"[\w/]*EXPECTED\.md", line):
                assert match.group() == "seeds/EXPECTED.md", f"{test_file.name}:{number}: {line}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_file_the_documents_name_exists(document: Path) -> None:
    named = re.findall(
        r"`((?:newswire|streams|agents|schemas|tests|seeds|docs)/[\w/.-]+)`", document.read_text()
    )
    assert named or document.name != "README.md"
    assert [path for path in named if not (PROJECT / path).exists()] == []
