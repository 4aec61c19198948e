"""The command line, run as a user runs it (subprocesses, a real broker)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from newswire.run import use_event_loop
from schemas.settings import Settings
from tests.conftest import PROJECT, newswire

COMMANDS = ["run", "worker", "replay", "follow", "tail", "stories", "broker", "evaluate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    result = newswire(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: newswire {command}" in result.stdout


def test_commands_needing_a_broker_say_so() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = newswire("tail", "stories", env=env)
    assert result.returncode != 0
    assert "no broker" in result.stderr


@pytest.mark.parametrize(
    ("name", "loop_type"), [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)]
)
def test_the_worker_runs_on_the_event_loop_of_its_settings(
    name: str, loop_type: type[asyncio.AbstractEventLoop]
) -> None:
    try:
        use_event_loop(name)
        loop = asyncio.get_event_loop()
        assert isinstance(loop, loop_type)
        thread_loop = asyncio.new_event_loop()  # as faust's consumer thread makes its own
        assert isinstance(thread_loop, loop_type)
        thread_loop.close()
        assert isinstance(loop, uvloop.Loop) == (name == "uvloop")
    finally:
        asyncio.get_event_loop().close()
        asyncio.set_event_loop_policy(None)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *named: str) -> None:
    """The command failed with ``code`` and one stderr line naming each of ``named``."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for name in named:
        assert name in result.stderr, (name, result.stderr)


def no_broker_env(**settings: str) -> dict[str, str]:
    """The environment of a user who has configured only ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return {**env, **{f"NEWSWIRE_{name.upper()}": value for name, value in settings.items()}}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["tail", "bogus", "--broker", "kafka://127.0.0.1:9"], ["'bogus'", "raw", "stories"]),
        (["stories", "--db", "README.md"], ["README.md", "not a story database"]),
        (["stories", "--db", "nowhere.sqlite"], ["nowhere.sqlite"]),
        (["worker", "--broker", "http://127.0.0.1:abc"], ["http://127.0.0.1:abc"]),
        (["tail", "raw", "--broker", "notaurl"], ["notaurl"]),
        (["replay", "seeds", "--broker", "kafka://127.0.0.1:99999"], ["kafka://127.0.0.1:99999"]),
        (["stories", "--since", "yesterday"], ["yesterday", "YYYY-MM-DD"]),
        (["replay", "/nonexistent", "--broker", "kafka://127.0.0.1:9"], ["/nonexistent"]),
        (["run", "--replay", "/nonexistent", "--once"], ["/nonexistent"]),
        (["run", "--once", "--timeout", "-5"], ["'-5'"]),
        (["stories", "--limit", "-1"], ["'-1'"]),
        (["stories", "--limit", "0"], ["'0'"]),
        (["tail", "raw", "--max", "-2"], ["'-2'"]),
        (["follow", "http://example.org/feed", "--interval", "-1"], ["'-1'"]),
        (["follow", "http://example.org/feed", "--interval", "nan"], ["'nan'"]),
        (["broker", "--port", "99999"], ["'99999'"]),
        (["broker", "--port", "-1"], ["'-1'"]),
        (["evaluate", "bogus"], ["'bogus'"]),
    ],
)
def test_a_bad_value_is_one_line_naming_it(args: list[str], named: list[str]) -> None:
    # Port 9 (discard) has no broker: a check that waited for one would time out.
    one_line_error(newswire(*args, env=no_broker_env()), 2, *named)


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("log_level", "bogus", ["worker", "--broker", "kafka://127.0.0.1:9"]),
        ("broker_profile", "bogus", ["worker", "--broker", "kafka://127.0.0.1:9"]),
        ("broker_url", "notaurl", ["tail", "raw"]),
        ("partitions", "many", ["stories"]),
        ("log_level", "bogus", ["bench", "--help"]),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    variable: str, value: str, command: list[str]
) -> None:
    result = newswire(*command, env=no_broker_env(**{variable: value}))
    one_line_error(result, 2, f"NEWSWIRE_{variable.upper()}", value)


def test_a_setting_accepts_its_allowed_values_in_any_case() -> None:
    assert Settings(log_level="INFO").log_level == "info"
    assert Settings(broker_url="kafka://a:1;kafka://[::1]:2").broker_url


@pytest.mark.parametrize(
    ("stage", "content", "named"),
    [
        ("cleaning", '{"url": "http://a.example/1", "text": "no html"}\n', ["line 1", "html"]),
        ("dedup", '{"text": "one"}\n', ["line 1", "doc_id", "text"]),
        ("stories", '{"doc_id": "1", "text": "a", "event": 1}\nnot json\n', ["line 2", "event"]),
        ("entities", 'EU NNP B-NP B-ORG\n{"text": "json"}\n', ["line 2", "TAG"]),
    ],
)
def test_an_evaluation_corpus_of_the_wrong_format_names_the_line_and_fields(
    tmp_path: Path, stage: str, content: str, named: list[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(content)
    one_line_error(newswire("evaluate", stage, str(corpus)), 2, str(corpus), *named)


@pytest.mark.parametrize("stage", ["cleaning", "entities", "dedup", "stories"])
def test_evaluate_stage_help_is_the_stage_s_own(stage: str) -> None:
    result = newswire("evaluate", stage, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: newswire evaluate {stage} "), result.stdout
    assert "path" in result.stdout.lower()


def test_a_closed_pipe_ends_stories_quietly(tmp_path: Path) -> None:
    from streams.stories.store import SQLiteStoryStore
    from tests.unit.test_story_store import story

    database = tmp_path / "stories.sqlite"
    with SQLiteStoryStore(database) as store:
        store.upsert_many(
            [story(f"s{n}", 1, f"Headline {n}", "Ada Lovelace", n % 9) for n in range(50)]
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newswire.cli",
            "stories",
            "--json",
            "--limit",
            "50",
            "--db",
            str(database),
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout and process.stderr
    process.stdout.close()  # as `| head` does once it has its lines
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""


@pytest.mark.parametrize(
    ("args", "unwanted"),
    [
        (["--help"], ["faust", "spacy", "aiokafka", "trafilatura", "numpy", "pydantic"]),
        (["bench", "--help"], ["faust", "spacy", "aiokafka", "trafilatura"]),
    ],
)
def test_help_imports_no_heavy_library(args: list[str], unwanted: list[str]) -> None:
    check = (
        f"import sys; from newswire.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print(sorted(set({unwanted!r}) & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
