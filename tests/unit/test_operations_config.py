"""What deploying and operating newswire rests on: topic configuration applied on a real
broker, JSON log lines, dead letters that can or cannot be sent again, the compose file
and the image."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime

import jsonschema
import orjson
import pytest
import yaml

from agents.runtime.logs import JSONFormatter
from newswire.deadletters import Refused, resend_of
from schemas.records import DeadLetter, RawArticle
from schemas.settings import Settings
from tests.conftest import PROJECT

COMPOSE = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
#: The Compose specification's JSON Schema as Debian's docker-compose 1.29 package ships it
#: (compose/config/compose_spec.json, Apache-2.0): what `docker-compose config` checks.
COMPOSE_SPEC = orjson.loads((PROJECT / "tests/data/compose_spec.json").read_bytes())


def test_json_logs_are_one_object_a_line_with_the_record_context() -> None:
    record = logging.LogRecord(
        "agents.runtime.app",
        logging.WARNING,
        __file__,
        1,
        "dead letter from %s:\n%s",
        ("clean", "too large"),
        None,
    )
    record.stage, record.article_id, record.partition, record.offset = "clean", "a1", 0, 7
    line = JSONFormatter().format(record)
    assert "\n" not in line
    assert orjson.loads(line) | {"time": None} == {
        "time": None,
        "level": "warning",
        "logger": "agents.runtime.app",
        "message": "dead letter from clean:\ntoo large",
        "stage": "clean",
        "article_id": "a1",
        "partition": 0,
        "offset": 7,
    }


def _letter(value: bytes, max_payload_bytes: int = 65536, **fields: object) -> DeadLetter:
    return DeadLetter.of(
        value,
        max_payload_bytes=max_payload_bytes,
        stage="clean",
        reason="r",
        error_type="e",
        failed_at=datetime.now(UTC),
        **fields,
    )


def test_a_dead_letter_goes_back_to_its_topic_with_its_key_and_value() -> None:
    value = b"\xff\x00binary"
    resend = resend_of(_letter(value, article_id="a1", topic="p.articles.raw"), Settings())
    assert (resend.topic, resend.key, resend.value) == ("p.articles.raw", b"a1", value)
    assert _letter(value).payload_encoding == "base64"
    assert base64.b64decode(_letter(value).payload) == value


def test_a_truncated_dead_letter_is_refused() -> None:
    with pytest.raises(Refused, match="only 4 of its 10 bytes"):
        resend_of(_letter(b"0123456789", max_payload_bytes=4, topic="t"), Settings())


def test_a_readers_dead_letter_goes_to_the_raw_topic_only_if_it_now_parses() -> None:
    article = RawArticle(id="r1", text="text", fetched_at=datetime.now(UTC))
    resend = resend_of(
        _letter(article.to_json(), location="in.jsonl:3"), Settings(topic_prefix="p")
    )
    assert (resend.topic, resend.key) == ("p.articles.raw", b"r1")
    with pytest.raises(Refused, match="still not a raw article"):
        resend_of(_letter(b'{"id": "r2"}', location="in.jsonl:4"), Settings())


def test_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema.Draft201909Validator(COMPOSE_SPEC)
    assert [error.message for error in validator.iter_errors(COMPOSE)] == []
    misspelt = {**COMPOSE["services"]["worker"], "healthceck": {"test": ["true"]}}
    assert not validator.is_valid({**COMPOSE, "services": {"worker": misspelt}})
    # Where Debian's docker-compose is installed, it reads the file as `docker compose` does
    # (interpolation, anchors, volumes and networks declared).
    if docker_compose := shutil.which("docker-compose"):
        checked = subprocess.run(
            [docker_compose, "-f", str(PROJECT / "docker-compose.yml"), "config", "--quiet"],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr


def test_compose_kafka_keeps_its_data_on_the_volume_and_listens_for_the_host() -> None:
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    assert "kafka-data:" + env["KAFKA_LOG_DIRS"] in kafka["volumes"]
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["PLAINTEXT"] == "kafka:9092"
    host_port = advertised["HOST"].removeprefix("localhost:")
    assert listeners["HOST"] == f":{host_port}"
    assert f"{host_port}:{host_port}" in kafka["ports"]
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) == set(protocols)


def test_compose_services_share_settings_and_the_worker_data() -> None:
    worker, tools = COMPOSE["services"]["worker"], COMPOSE["services"]["tools"]
    shared = {k: v for k, v in worker["environment"].items() if k != "NEWSWIRE_WEB_PORT"}
    assert tools["environment"] == shared
    assert shared["NEWSWIRE_PARTITIONS"]
    data_volume = f"worker-data:{shared['NEWSWIRE_DATA_DIR']}"
    assert data_volume in worker["volumes"] and data_volume in tools["volumes"]
    assert any(volume.startswith("./") and volume.endswith(":ro") for volume in tools["volumes"])


def test_compose_worker_health_check_asks_readiness_on_its_web_port() -> None:
    worker = COMPOSE["services"]["worker"]
    port = worker["environment"]["NEWSWIRE_WEB_PORT"]
    assert f"http://localhost:{port}/health/ready" in " ".join(worker["healthcheck"]["test"])


def test_image_installs_dependencies_first_and_runs_as_its_own_user() -> None:
    lines = (PROJECT / "Dockerfile").read_text().splitlines()
    copies = [n for n, line in enumerate(lines) if line.startswith("COPY")]
    assert lines[copies[0]] == "COPY pyproject.toml ./"
    dependency_layer = "\n".join(lines[copies[0] : copies[1]])
    assert "'pip', 'install'" in dependency_layer and "['dependencies']" in dependency_layer
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    ignored = (PROJECT / ".dockerignore").read_text().splitlines()
    assert {".venv", ".git", "tests"} <= set(ignored)
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert not [dep for dep in project["dependencies"] if dep.startswith("calfkit")]
    assert "newswire[embedded]" in project["optional-dependencies"]["dev"]


def test_the_compose_kafka_takes_the_largest_record_of_its_worker() -> None:
    services = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())["services"]
    worker_env = services["worker"]["environment"]
    max_article_bytes = worker_env.get(
        "NEWSWIRE_MAX_ARTICLE_BYTES", Settings.model_fields["max_article_bytes"].default
    )
    largest = Settings(max_article_bytes=int(max_article_bytes)).max_record_bytes
    kafka_env = services["kafka"]["environment"]
    for limit in ("KAFKA_MESSAGE_MAX_BYTES", "KAFKA_REPLICA_FETCH_MAX_BYTES"):
        assert int(kafka_env[limit]) >= largest, limit
