"""`newswire replay` on a damaged directory, through a real broker: the good records are
published, every refusal lands on the dead-letter topic with stage, reason and location."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from newswire.replay.inputs import SEND_BATCH, Outbound, ReplayCounts, publish, stable_id
from newswire.watch import consume
from schemas.graph import DEAD_LETTERS, RAW
from schemas.records import DeadLetter, RawArticle
from schemas.settings import Settings
from tests.conftest import PROJECT
from tests.e2e.conftest import settings_env


def read_topics(
    settings: Settings, raw: int, dead: int
) -> tuple[list[RawArticle], list[DeadLetter]]:
    """The first ``raw`` articles and ``dead`` dead letters on the broker."""
    raw_topic = RAW.name(settings.topic_prefix)
    dead_topic = DEAD_LETTERS.name(settings.topic_prefix)
    articles: list[RawArticle] = []
    letters: list[DeadLetter] = []

    async def collect() -> None:
        async for topic, _key, value in consume(settings, [raw_topic, dead_topic]):
            if topic == raw_topic:
                articles.append(RawArticle.from_json(value))
            else:
                letters.append(DeadLetter.from_json(value))
            if len(articles) >= raw and len(letters) >= dead:
                return

    asyncio.run(asyncio.wait_for(collect(), 30))
    return articles, letters


def write_damaged_archive(folder: Path) -> None:
    """Good records among every kind of damage the reader meets."""
    folder.mkdir()
    (folder / "a-good.jsonl").write_bytes(
        b"".join(
            orjson.dumps(record) + b"\n"
            for record in [
                {"url": "https://www.example.org/one", "text": "First good article."},
                "just a string",
                {"url": 12345},
                {"url": "https://www.example.org/one", "text": "First good article, updated."},
            ]
        )
    )
    (folder / "b-binary.html").write_bytes(b"\x00\x01\x02 not a page")
    lines = b"".join(
        orjson.dumps({"id": f"cut-{n}", "text": f"Cut {n}. " * 40}) + b"\n" for n in range(200)
    )
    compressed = gzip.compress(lines)
    (folder / "c-cut.jsonl.gz").write_bytes(compressed[: len(compressed) // 2])
    (folder / "d-broken.json").write_bytes(b'{"text": "never closed"')
    (folder / "e-good.json").write_bytes(orjson.dumps([{"id": "last", "text": "Last good."}]))


def test_replay_publishes_the_good_records_of_a_damaged_directory_and_dead_letters_the_rest(
    pipeline_settings: Settings,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    write_damaged_archive(archive)
    result = subprocess.run(
        [sys.executable, "-m", "newswire.cli", "replay", str(archive)],
        cwd=PROJECT,
        env=settings_env(pipeline_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    damaged = ["a-good.jsonl", "b-binary.html", "c-cut.jsonl.gz", "d-broken.json"]
    report = result.stderr.splitlines()
    assert [sum(name in line for line in report) for name in damaged] == [1, 1, 1, 1]
    (summary,) = result.stdout.splitlines()
    published = int(summary.split("published ")[1].split()[0])
    assert "(1 revisions)" in summary and "dead-lettered 5" in summary
    assert "2 invalid_record" in summary and "1 truncated" in summary

    articles, letters = read_topics(pipeline_settings, raw=published, dead=5)
    by_id = {(a.id, a.revision): a for a in articles}
    one = stable_id(url="https://www.example.org/one")
    assert by_id[(one, 1)].text == "First good article."
    assert by_id[(one, 2)].text == "First good article, updated."
    assert by_id[(one, 2)].source == "example.org"
    assert by_id[(one, 2)].provenance == f"file:{archive / 'a-good.jsonl'}:4"
    assert ("last", 1) in by_id and ("cut-0", 1) in by_id
    cut = sorted(int(a.id.removeprefix("cut-")) for a in articles if a.id.startswith("cut-"))
    assert cut == list(range(len(cut))) and published == len(cut) + 3

    assert {letter.stage for letter in letters} == {"replay"}
    located = {letter.location: letter for letter in letters}
    assert located[f"{archive / 'a-good.jsonl'}:2"].payload == '"just a string"'
    url_letter = located[f"{archive / 'a-good.jsonl'}:3"]
    assert url_letter.error_type == "invalid_record" and "url" in url_letter.reason
    assert "fetched_at" not in url_letter.reason
    assert located[str(archive / "b-binary.html")].error_type == "binary"
    assert located[f"{archive / 'd-broken.json'}:1"].error_type == "invalid_json"
    (cut_letter,) = [letter for letter in letters if letter.error_type == "truncated"]
    assert cut_letter.location and cut_letter.location.startswith(f"{archive / 'c-cut.jsonl.gz'}@")
    assert f"line {len(cut) + 1}" in cut_letter.reason


def test_a_message_the_producer_refuses_is_dead_lettered_and_the_next_one_sent(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings.model_copy(update={"max_article_bytes": 1_000})
    fetched = "2026-01-01T00:00:00Z"
    oversize = Outbound.of(
        RawArticle(id="oversize", text="x" * 1_100_000, fetched_at=fetched), location="big.jsonl:1"
    )
    after = Outbound.of(RawArticle(id="after", text="Sent.", fetched_at=fetched))
    counts = ReplayCounts()
    sent = asyncio.run(publish(settings, [oversize, after], counts))
    assert (sent, counts.published) == (1, 1)
    assert counts.dead_lettered == {"MessageSizeTooLargeError": 1}

    (article,), (letter,) = read_topics(settings, raw=1, dead=1)
    assert article.id == "after"
    assert (letter.stage, letter.article_id, letter.location) == (
        "replay",
        "oversize",
        "big.jsonl:1",
    )
    assert letter.payload_truncated and letter.payload_bytes == len(oversize.value)


def test_publishing_goes_on_while_the_input_is_still_being_read(
    pipeline_settings: Settings,
) -> None:
    delivered: list[Outbound] = []
    delivered_when_pulled: list[int] = []

    def articles_as_read() -> Iterator[Outbound]:
        for number in range(3 * SEND_BATCH):
            delivered_when_pulled.append(len(delivered))
            yield Outbound.of(
                RawArticle(
                    id=f"n{number}", text=f"Article {number}.", fetched_at="2026-01-01T00:00:00Z"
                )
            )

    sent = asyncio.run(
        publish(pipeline_settings, articles_as_read(), on_published=delivered.append)
    )
    assert sent == len(delivered) == 3 * SEND_BATCH
    # The broker had the first batch before the reader was asked for the second.
    assert delivered_when_pulled[SEND_BATCH - 1] == 0
    assert delivered_when_pulled[SEND_BATCH] == SEND_BATCH
    assert delivered_when_pulled[2 * SEND_BATCH] == 2 * SEND_BATCH
