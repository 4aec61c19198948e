"""Web archives through the real broker: every HTML page of a WARC reaches its story;
`newswire replay` resumes an interrupted replay where it stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson

from newswire.replay.inputs import stable_id
from schemas.settings import Settings
from tests.conftest import PROJECT
from tests.e2e.conftest import settings_env
from tests.e2e.test_replay import read_topics
from tests.warc_files import write_mixed_archive


def test_each_html_page_of_a_warc_reaches_its_story(tmp_path: Path) -> None:
    archive = tmp_path / "mixed.warc.gz"
    _warc, urls = write_mixed_archive(archive)
    articles_out = tmp_path / "articles.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env["NEWSWIRE_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "newswire.cli",
            "run",
            "--once",
            "--timeout",
            "300",
            "--replay",
            str(archive),
            "--articles-out",
            str(articles_out),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    # The truncated last record is dead-lettered: exit 3, once every page is in its story.
    assert result.returncode == 3, result.stderr[-3000:]
    assert f"{archive}@" in result.stderr and "truncated" in result.stderr
    # The reader's count once all is published: 12 whole records, 7 of them not pages.
    assert re.search(
        r"newswire: 12 records read, 5 published \([0-9,]+/s\), 7 skipped \(", result.stderr
    ), result.stderr[-3000:]
    enriched = {row["id"]: row for row in map(orjson.loads, articles_out.read_text().splitlines())}
    assert set(enriched) == {stable_id(url=url) for url in urls}
    assert all(row["story_id"] for row in enriched.values())
    assert {row["source"] for row in enriched.values()} == {f"news{n}.example" for n in range(5)}


def test_replay_resumes_where_it_stopped(pipeline_settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "mixed.warc.gz"
    _warc, urls = write_mixed_archive(archive)
    env = settings_env(pipeline_settings)

    def replay(*flags: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "newswire.cli", "replay", str(archive), *flags],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    first = replay("--limit", "2", "--progress")
    assert "published 2 articles" in first.stdout
    assert "records read" in first.stderr  # the progress line, asked for off a terminal
    rest = replay()  # after warcinfo, request, page, metadata, page
    assert f"resuming {archive} after 5 records" in rest.stderr
    assert "published 3 articles" in rest.stdout
    assert "1 revisit" in rest.stdout and "1 redirect" in rest.stdout
    done = replay()
    assert "replayed to its end already" in done.stderr and "published 0" in done.stdout

    articles, letters = read_topics(pipeline_settings, raw=5, dead=1)
    assert sorted(a.id for a in articles) == sorted(stable_id(url=url) for url in urls)
    (letter,) = letters
    assert letter.error_type == "truncated"
    assert letter.location is not None and letter.location.startswith(f"{archive}@")
