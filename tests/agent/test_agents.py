"""The agents in faust's test context: thin wiring, dead letters, idempotency.

The broker is replaced by capturing what each agent sends; the end-to-end
tests run the same agents on a real broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from faust.exceptions import ProducerSendError

from agents.runtime.app import Pipeline
from agents.runtime.headers import ingest_headers
from newswire.replay.inputs import read_inputs
from schemas.graph import TopicSpec
from schemas.records import (
    CleanArticle,
    DeadLetter,
    DedupedArticle,
    DedupProbe,
    DedupSignature,
    DedupVerdict,
    Entity,
    RawArticle,
    TaggedArticle,
)
from schemas.settings import Settings
from streams.dedup.index import Signature, probe_keys
from streams.keyindex import key_partition
from streams.tag.entities import EntityTagger
from streams.text import fingerprint
from tests.conftest import SEEDS, written
from tests.unit.test_story_store import story

FETCHED = datetime(2020, 5, 28, tzinfo=UTC)


class CapturingPipeline(Pipeline):
    """The pipeline with its sends captured instead of produced to Kafka."""

    def __init__(self, settings: Settings, tagger: EntityTagger) -> None:
        super().__init__(settings, tagger=tagger)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.partitions: list[int | None] = []
        self.headers: list[dict[str, bytes]] = []

    async def send(
        self,
        topic: TopicSpec,
        key: str,
        value: bytes,
        partition: int | None = None,
        headers: dict[str, bytes] | None = None,
        stage: str | None = None,
    ) -> None:
        self.sent.append((topic.role, key, orjson.loads(value)))
        self.partitions.append(partition)
        self.headers.append(headers or {})

    def records(self, role: str) -> list[dict[str, Any]]:
        return [value for sent_role, _, value in self.sent if sent_role == role]

    def messages(self, role: str) -> list[tuple[str, dict[str, Any], int | None]]:
        """What was sent to ``role``: (key, value, partition)."""
        return [
            (key, value, partition)
            for (sent_role, key, value), partition in zip(self.sent, self.partitions, strict=True)
            if sent_role == role
        ]

    def take(self, role: str) -> list[tuple[str, dict[str, Any], int | None]]:
        """Remove and return what was sent to ``role``: (key, value, partition)."""
        taken = self.messages(role)
        kept = [
            (sent, partition)
            for sent, partition in zip(self.sent, self.partitions, strict=True)
            if sent[0] != role
        ]
        self.sent = [sent for sent, _ in kept]
        self.partitions = [partition for _, partition in kept]
        return taken

    async def wait_for(self, count: int) -> None:
        for _ in range(600):
            if len(self.sent) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} records, got {self.sent}")


class SizeLimitedPipeline(CapturingPipeline):
    """A capturing pipeline that refuses to send a value over ``limits[role]`` bytes, as
    faust's producer refuses a record over its request size."""

    def __init__(self, settings: Settings, tagger: EntityTagger, limits: dict[str, int]) -> None:
        super().__init__(settings, tagger)
        self.limits = limits

    async def send(
        self,
        topic: TopicSpec,
        key: str,
        value: bytes,
        partition: int | None = None,
        headers: dict[str, bytes] | None = None,
        stage: str | None = None,
    ) -> None:
        if len(value) > self.limits.get(topic.role, len(value)):
            raise ProducerSendError(
                f"Error while sending: MessageSizeTooLargeError("
                f"'The message is {len(value)} bytes')"
            )
        await super().send(topic, key, value, partition, headers, stage)


def make_pipeline(directory: Path, tagger: EntityTagger, **overrides: float) -> CapturingPipeline:
    return limited_pipeline(directory, tagger, {}, **overrides)


def limited_pipeline(
    directory: Path, tagger: EntityTagger, limits: dict[str, int], **overrides: float
) -> CapturingPipeline:
    """A pipeline whose sends to each role of ``limits`` refuse values over that size."""
    settings = Settings(
        broker_url="kafka://127.0.0.1:9", broker_profile="kafka", data_dir=directory
    )
    return SizeLimitedPipeline(settings.model_copy(update=overrides), tagger, limits)


@pytest.fixture
def pipeline(tmp_path: Path, tagger: EntityTagger) -> Iterator[CapturingPipeline]:
    yield make_pipeline(
        tmp_path, tagger, batch_seconds=0.01, max_article_bytes=5_000, dedup_partitions=4
    )


def _run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


BAD_RAW_ARTICLES: dict[str, tuple[bytes, str]] = {
    # key: (message value, the dead letter's error type)
    "broken": (b"{not json", "invalid_json"),
    "no-time": (orjson.dumps({"id": "no-time", "text": "x"}), "invalid_record"),
    "empty": (RawArticle(id="empty", text="  \n ", fetched_at=FETCHED).to_json(), "empty"),
    "nothing": (orjson.dumps({"id": "nothing", "fetched_at": FETCHED.isoformat()}), "no_content"),
    "binary": (
        RawArticle(id="binary", text="\x00\x01\x02\x03" * 200, fetched_at=FETCHED).to_json(),
        "binary",
    ),
    "no-main-text": (
        RawArticle(
            id="no-main-text",
            fetched_at=FETCHED,
            html="<html><body><div id='app'></div></body></html>",
        ).to_json(),
        "no_main_text",
    ),
    "nested": (
        RawArticle(
            id="nested", fetched_at=FETCHED, html="<div>" * 100_000 + "text" + "</div>" * 100_000
        ).to_json(),
        "pathological_html",
    ),
    "huge": (b"x" * 2_000_001, "too_large"),
}


def test_clean_agent_dead_letters_every_bad_input_and_goes_on(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, batch_seconds=0.01, max_article_bytes=2_000_000)
    good = RawArticle(
        id="good", text=(SEEDS / "001_02c2b1938b4c8060.txt").read_text(), fetched_at=FETCHED
    )

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            for key, (value, _) in BAD_RAW_ARTICLES.items():
                await agent.put(value, key=key.encode())
            await agent.put(good.to_json(), key=b"good")
            await pipeline.wait_for(len(BAD_RAW_ARTICLES) + 2)

    _run(scenario())
    letters = {
        letter["article_id"]: DeadLetter.model_validate(letter)
        for letter in pipeline.records("deadletter")
    }
    assert {key: letter.error_type for key, letter in letters.items()} == {
        key: error_type for key, (_, error_type) in BAD_RAW_ARTICLES.items()
    }
    assert all(letter.stage == "clean" and letter.reason for letter in letters.values())
    (clean,) = pipeline.records("clean")
    assert clean["id"] == "good" and clean["title"]


def seed_raw(article_id: str = "good") -> RawArticle:
    return RawArticle(
        id=article_id, text=(SEEDS / "001_02c2b1938b4c8060.txt").read_text(), fetched_at=FETCHED
    )


async def clean_all(pipeline: CapturingPipeline, messages: dict[str, bytes], sent: int) -> None:
    """Put ``messages`` (key: value) into the clean agent and wait for ``sent`` records."""
    async with pipeline.app.agents["clean"].test_context() as agent:
        for key, value in messages.items():
            await agent.put(value, key=key.encode())
        await pipeline.wait_for(sent)


def test_a_dead_letter_keeps_a_bounded_prefix_of_the_message_with_its_size_and_hash(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(
        tmp_path,
        tagger,
        batch_seconds=0.01,
        max_article_bytes=5_000,
        dead_letter_payload_bytes=1_000,
    )
    big = RawArticle(id="big", text="word " * 3_000, fetched_at=FETCHED).to_json()
    _run(clean_all(pipeline, {"big": big, "small": b"{not json"}, sent=2))
    letters = {
        letter["article_id"]: DeadLetter.model_validate(letter)
        for letter in pipeline.records("deadletter")
    }
    assert letters["big"].error_type == "too_large"
    assert letters["big"].payload == big[:1_000].decode()
    assert letters["big"].payload_truncated
    assert letters["big"].payload_bytes == len(big) > 15_000
    assert letters["big"].payload_sha256 == hashlib.sha256(big).hexdigest()
    assert letters["small"].payload == "{not json" and not letters["small"].payload_truncated
    assert letters["small"].payload_bytes == 9


def test_a_result_too_big_to_send_is_dead_lettered_and_the_agent_goes_on(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = limited_pipeline(
        tmp_path, tagger, {"clean": 20_000}, batch_seconds=0.01, dead_letter_payload_bytes=1_000
    )
    big = RawArticle(
        id="big", text="A long report on the valley's water. " * 1_000, fetched_at=FETCHED
    )
    _run(clean_all(pipeline, {"big": big.to_json(), "good": seed_raw().to_json()}, sent=3))
    (letter,) = [DeadLetter.model_validate(value) for value in pipeline.records("deadletter")]
    assert (letter.stage, letter.article_id, letter.error_type) == (
        "clean",
        "big",
        "ProducerSendError",
    )
    assert "MessageSizeTooLargeError" in letter.reason
    assert [record["id"] for record in pipeline.records("clean")] == ["good"]


def test_a_result_too_big_to_send_from_a_guarded_stage_is_dead_lettered(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = limited_pipeline(tmp_path, tagger, {"deduped": 1_000})
    article = seed_tagged("001")

    async def route() -> None:
        async with pipeline.app.agents["dedup-route"].test_context() as agent:
            await agent.put(article.to_json(), key=article.id.encode())

    _run(route())
    (letter,) = [DeadLetter.model_validate(value) for value in pipeline.records("deadletter")]
    assert (letter.stage, letter.article_id, letter.error_type) == (
        "dedup-route",
        "001",
        "ProducerSendError",
    )


def test_a_dead_letter_too_big_to_send_is_sent_without_its_payload(
    tmp_path: Path, tagger: EntityTagger, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = limited_pipeline(
        tmp_path, tagger, {"deadletter": 20_000}, batch_seconds=0.01, max_article_bytes=30_000
    )
    big = b"{" * 40_000
    _run(clean_all(pipeline, {"big": big, "good": seed_raw().to_json()}, sent=3))
    (letter,) = [DeadLetter.model_validate(value) for value in pipeline.records("deadletter")]
    assert (letter.stage, letter.article_id, letter.error_type) == ("clean", "big", "too_large")
    assert letter.payload == "" and letter.payload_truncated
    assert letter.payload_bytes == 40_000
    assert letter.payload_sha256 == hashlib.sha256(big).hexdigest()
    assert [record["id"] for record in pipeline.records("clean")] == ["good"]
    assert any(
        "without its payload" in record.getMessage() and "big" in record.getMessage()
        for record in caplog.records
    )


def test_an_agent_that_cannot_send_a_dead_letter_logs_the_article_and_goes_on(
    tmp_path: Path, tagger: EntityTagger, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = limited_pipeline(tmp_path, tagger, {"deadletter": 0}, batch_seconds=0.01)
    _run(clean_all(pipeline, {"lost": b"{not json", "good": seed_raw().to_json()}, sent=2))
    assert [record["id"] for record in pipeline.records("clean")] == ["good"]
    assert not pipeline.records("deadletter")
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert "lost" in error.getMessage() and "invalid_json" in error.getMessage()


def test_clean_agent_sends_a_batch_in_ingest_order(tmp_path: Path, tagger: EntityTagger) -> None:
    pipeline = make_pipeline(tmp_path, tagger, batch_seconds=1.0)
    messages = [RawArticle.from_json(m.value) for m in read_inputs([SEEDS])]
    stamped = [
        raw.model_copy(update={"fetched_at": FETCHED.replace(second=i)})
        for i, raw in enumerate(messages)
    ]

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            for raw in reversed(stamped):
                await agent.put(raw.to_json(), key=raw.id.encode())
            await pipeline.wait_for(2 * len(stamped))  # clean and tagged

    _run(scenario())
    for role in ("clean", "tagged"):
        assert [key for key, _, _ in pipeline.messages(role)] == [raw.id for raw in stamped]


def test_clean_agent_keeps_each_article_on_the_partition_its_raw_article_came_from(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, batch_seconds=0.01)
    raws = [RawArticle.from_json(m.value) for m in read_inputs([SEEDS])]
    partition_of = {raw.id: number % 2 + 1 for number, raw in enumerate(raws)}

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            for raw in raws:
                await agent.put(raw.to_json(), key=raw.id.encode(), partition=partition_of[raw.id])
            await pipeline.wait_for(2 * len(raws))

    _run(scenario())
    assert {key: partition for key, _, partition in pipeline.messages("clean")} == partition_of


def test_store_agent_reads_only_the_last_version_of_each_story_in_a_batch(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, batch_size=3, batch_seconds=5.0)
    latest = story("s1", 2, "Fighters flown out of Libya", "Khalifa Haftar", 0)
    other = story("s2", 1, "Quake shakes Chile", "Michelle Bachelet", 1)

    async def scenario() -> None:
        async with pipeline.app.agents["store"].test_context() as agent:
            # An earlier version of s1, unreadable: the batch has a later one, so it is
            # not read (only the latest version of a story is stored anyway).
            await agent.put(b"{not json", key=b"s1")
            await agent.put(latest.to_json(), key=b"s1")
            await agent.put(other.to_json(), key=b"s2")
            for _ in range(200):
                if pipeline.story_store.get("s2") is not None:
                    return
                await asyncio.sleep(0.05)

    _run(scenario())
    assert pipeline.story_store.get("s1") == latest
    assert pipeline.story_store.get("s2") == other
    assert pipeline.records("deadletter") == []


def test_clean_agent_tags_each_article_and_sends_both_records_with_the_ingest_partition(
    pipeline: CapturingPipeline,
) -> None:
    text = "LNA spokesman Ahmed Mismari said the Libyan National Army left Tripoli."
    raw = RawArticle(id="c1", text=text, fetched_at=FETCHED)

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            await agent.put(raw.to_json(), key=b"c1", partition=3)
            await pipeline.wait_for(2)

    _run(scenario())
    assert [role for role, _, _ in pipeline.sent] == ["clean", "tagged"]
    (clean,), (tagged,) = pipeline.records("clean"), pipeline.records("tagged")
    assert pipeline.partitions == [3, None]  # the tagged topic has one partition
    # With the partition it came through, for the reorder buffer before dedup.
    assert pipeline.headers == [ingest_headers(3)] * 2
    article = TaggedArticle.model_validate(tagged)
    assert (
        article.model_dump(exclude={"entities"}) == CleanArticle.model_validate(clean).model_dump()
    )
    names = {entity.name for entity in article.entities}
    assert {"Ahmed Mismari", "Libyan National Army", "Tripoli"} <= names
    assert "tag" not in pipeline.app.agents  # tagged in the same call as cleaned


class FailingTagger:
    """A tagger that fails on any batch holding an article whose text has ``poison``."""

    def __init__(self, tagger: EntityTagger, poison: str) -> None:
        self.tagger = tagger
        self.poison = poison

    def tag(self, articles: Sequence[CleanArticle]) -> list[list[Entity]]:
        if any(self.poison in article.text for article in articles):
            raise RuntimeError("the tagger broke")
        return self.tagger.tag(articles)


def test_a_tagging_failure_is_dead_lettered_as_the_tag_stage_and_its_clean_record_sent(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    poison = "Zanzibar is where the tagger breaks."
    pipeline = make_pipeline(tmp_path, FailingTagger(tagger, poison), batch_seconds=0.5)
    bad = RawArticle(id="bad", text=poison * 5, fetched_at=FETCHED)
    _run(clean_all(pipeline, {"bad": bad.to_json(), "good": seed_raw().to_json()}, sent=4))
    (letter,) = [DeadLetter.model_validate(value) for value in pipeline.records("deadletter")]
    assert (letter.stage, letter.article_id, letter.error_type) == ("tag", "bad", "RuntimeError")
    assert "the tagger broke" in letter.reason
    assert sorted(record["id"] for record in pipeline.records("clean")) == ["bad", "good"]
    assert [record["id"] for record in pipeline.records("tagged")] == ["good"]
    assert pipeline.records("tagged")[0]["entities"]


def test_stage_metrics_count_the_clean_and_the_tag_stage(pipeline: CapturingPipeline) -> None:
    # (What each stage sends is counted by Pipeline.send, captured here: see test_operations.)
    _run(clean_all(pipeline, {"good": seed_raw().to_json(), "broken": b"{not json"}, sent=3))
    value = pipeline.registry.get_sample_value
    assert value("newswire_records_in_total", {"stage": "tag"}) == 1
    assert value("newswire_dead_letters_total", {"stage": "clean", "reason": "invalid_json"}) == 1
    for stage in ("clean", "tag"):
        assert value("newswire_processing_seconds_count", {"stage": stage}) == 1


def seed_tagged(number: str, fetched_at: datetime = FETCHED) -> TaggedArticle:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    text = path.read_text()
    return TaggedArticle(id=number, text=text, fetched_at=fetched_at, fingerprint=fingerprint(text))


def signature_of(article: TaggedArticle) -> Signature:
    return Signature.of(article.text, article.fingerprint)


async def deliver(pipeline: CapturingPipeline, role: str, agent_name: str) -> None:
    """Put what was sent to ``role`` into ``agent_name``, on the partitions it was sent to."""
    async with pipeline.app.agents[agent_name].test_context() as agent:
        for key, value, partition in pipeline.take(role):
            await agent.put(orjson.dumps(value), key=key.encode(), partition=partition)


async def dedup_stage(pipeline: CapturingPipeline, articles: list[TaggedArticle]) -> None:
    """Route ``articles``, then run every probe through the shards and every report
    through the decision, as the broker would deliver them."""
    async with pipeline.app.agents["dedup-route"].test_context() as agent:
        for article in articles:
            await agent.put(article.to_json(), key=article.id.encode())
    if pipeline.settings.dedup_partitions > 1:  # else decided in the route agent
        await deliver(pipeline, "dedup.probes", "dedup-shard")
        await deliver(pipeline, "dedup.reports", "dedup-decide")


def verdicts(pipeline: CapturingPipeline) -> list[DedupVerdict]:
    return [DedupVerdict.model_validate(record["dedup"]) for record in pipeline.records("deduped")]


def only_verdicts(pipeline: CapturingPipeline) -> bool:
    """Whether every decision entry is a verdict: nothing is left pending."""
    return all(
        set(written(entry))
        == {"arrived_at", "sequence", "revision", "fetched_at", "content_hash", "verdict"}
        for entry in pipeline.dedup.decisions.values()
    )


def test_the_dedup_route_restores_ingest_order_across_raw_partitions(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    """A copy that reaches the dedup stage before its original (its raw partition was
    cleaned and tagged first) waits for the other partition to catch up: the original
    is still the earlier article, and the copy points at it."""
    pipeline = make_pipeline(tmp_path, tagger, partitions=2, reorder_max_wait_seconds=60)
    original, copy = seed_tagged("000"), seed_tagged("002", FETCHED + timedelta(seconds=1))
    later = seed_tagged("001", FETCHED + timedelta(seconds=2))

    async def run() -> None:
        async with pipeline.app.agents["dedup-route"].test_context() as agent:
            for article, raw_partition in ((copy, 1), (original, 0), (later, 0)):
                await agent.put(
                    article.to_json(),
                    key=article.id.encode(),
                    headers=ingest_headers(raw_partition),
                )

    _run(run())
    decided = {verdict.article_id: verdict for verdict in verdicts(pipeline)}
    assert decided["000"].duplicate_of is None
    assert decided["002"].duplicate_of == "000"
    # The latest article waits: no partition has caught up with it yet.
    assert "001" not in decided and len(pipeline.dedup.reorder) == 1


def test_one_dedup_partition_decides_in_the_route_agent_with_no_probe_hop(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, dedup_partitions=1)
    assert not {"dedup.probes", "dedup.reports"} & set(pipeline.topics)
    assert not {"dedup-shard", "dedup-decide"} & set(pipeline.app.agents)
    articles = [seed_tagged(number) for number in ("000", "001", "002")]

    async def route(batch: list[TaggedArticle]) -> None:
        async with pipeline.app.agents["dedup-route"].test_context() as agent:
            for article in batch:
                await agent.put(article.to_json(), key=article.id.encode())

    _run(route(articles))
    assert {role for role, _, _ in pipeline.sent} == {"deduped"}  # one write per article
    decided = {verdict.article_id: verdict for verdict in verdicts(pipeline)}
    assert decided["002"].duplicate_of == "000"  # seeds/EXPECTED.md
    assert decided["000"].duplicate_of is None and decided["001"].duplicate_of is None
    (deduped,) = [value for value in pipeline.records("deduped") if value["id"] == "002"]
    assert (
        DedupedArticle.model_validate(deduped).model_dump(exclude={"dedup", "duplicate_of"})
        == articles[2].model_dump()
    )
    # The state is in the tables, as on the partitioned path, for a restart to rebuild.
    assert {key.split("/")[1] for key in pipeline.dedup.shard_articles} == {"000", "001", "002"}
    assert only_verdicts(pipeline)
    tables = (pipeline.dedup.shard_articles, pipeline.dedup.decisions)
    before = [dict(table.items()) for table in tables]
    first = verdicts(pipeline)
    pipeline.take("deduped")
    _run(route(list(reversed(articles))))  # redelivered, in another order
    assert verdicts(pipeline) == list(reversed(first))
    assert [dict(table.items()) for table in tables] == before


def test_an_article_whose_reorder_wait_runs_out_is_decided_in_process(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    """Released by the reorder buffer's timer, outside any stream's iteration: the one
    dedup partition still writes its tables and sends the verdict."""
    pipeline = make_pipeline(
        tmp_path, tagger, partitions=2, dedup_partitions=1, reorder_max_wait_seconds=0.05
    )
    article = seed_tagged("001")

    async def scenario() -> None:
        async with pipeline.app.agents["dedup-route"].test_context() as agent:
            await agent.put(article.to_json(), key=b"001", headers=ingest_headers(0))
            assert len(pipeline.dedup.reorder) == 1  # partition 1 has not caught up
        await asyncio.sleep(0.1)
        await pipeline.dedup._route_overdue()  # what the timer runs

    _run(scenario())
    assert [verdict.article_id for verdict in verdicts(pipeline)] == ["001"]
    assert not pipeline.records("deadletter")
    assert list(pipeline.dedup.decisions.keys()) == ["001"]


def test_the_in_process_and_the_partitioned_dedup_give_the_same_verdicts(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    articles = [
        seed_tagged(number, FETCHED + timedelta(seconds=int(number)))
        for number in ("000", "001", "002", "003", "004")
    ]
    found = []
    for partitions in (1, 4):
        pipeline = make_pipeline(tmp_path / str(partitions), tagger, dedup_partitions=partitions)
        _run(dedup_stage(pipeline, articles))
        found.append(sorted(verdicts(pipeline), key=lambda verdict: verdict.article_id))
    assert found[0] == found[1] and len(found[0]) == len(articles)


def test_dedup_agents_find_the_copy_across_partitions(pipeline: CapturingPipeline) -> None:
    articles = [seed_tagged(number) for number in ("000", "001", "002")]
    _run(dedup_stage(pipeline, articles))
    decided = {verdict.article_id: verdict for verdict in verdicts(pipeline)}
    # seeds/EXPECTED.md: 002 is a copy of 000; the others are originals.
    assert decided["002"].duplicate_of == "000"
    assert decided["000"].duplicate_of is None and decided["001"].duplicate_of is None
    assert len(verdicts(pipeline)) == 3
    # The index is spread over the partitions: each holds the articles with a key there.
    partitions = {int(key.split("/")[0]) for key in pipeline.dedup.shard_articles}
    assert len(partitions) == pipeline.settings.dedup_partitions > 1
    assert only_verdicts(pipeline)


def test_the_article_rides_with_its_home_probe_and_reports_only_cross_partitions(
    pipeline: CapturingPipeline,
) -> None:
    articles = [seed_tagged(number) for number in ("000", "001", "002")]
    partitions = pipeline.settings.dedup_partitions

    async def route() -> None:
        async with pipeline.app.agents["dedup-route"].test_context() as agent:
            for article in articles:
                await agent.put(article.to_json(), key=article.id.encode())

    _run(route())
    probes = pipeline.messages("dedup.probes")
    away_with_keys: set[tuple[str, int]] = set()
    for article in articles:
        home = key_partition(article.id, partitions)
        holding = {key_partition(key, partitions) for key in probe_keys(signature_of(article))}
        sent = {partition: value for key, value, partition in probes if key == article.id}
        assert set(sent) == holding | {home}  # one probe per shard, and one home
        assert sent[home]["article"]["id"] == article.id
        assert sent[home]["shards_total"] == len(holding)
        assert all(sent[partition]["article"] is None for partition in sent if partition != home)
        away_with_keys |= {(article.id, partition) for partition in holding - {home}}
    assert away_with_keys  # some matches must cross partitions
    _run(deliver(pipeline, "dedup.probes", "dedup-shard"))
    reports = pipeline.messages("dedup.reports")
    assert {(key, value["shard"]) for key, value, _ in reports} == away_with_keys
    assert all(partition == key_partition(key, partitions) for key, _, partition in reports)
    _run(deliver(pipeline, "dedup.reports", "dedup-decide"))
    assert sorted(verdict.article_id for verdict in verdicts(pipeline)) == ["000", "001", "002"]


def test_a_probe_carrying_its_article_away_from_home_is_dead_lettered_untouched(
    pipeline: CapturingPipeline,
) -> None:
    article = seed_tagged("000")
    partitions = pipeline.settings.dedup_partitions
    signature = signature_of(article)
    probe = DedupProbe(
        article_id=article.id,
        keys=probe_keys(signature),
        arrived_at=FETCHED,
        sequence=0,
        signature=DedupSignature.model_validate(signature.to_json()),
        article=article,
        shards_total=1,
    )
    away = (key_partition(article.id, partitions) + 1) % partitions

    async def misroute() -> None:
        async with pipeline.app.agents["dedup-shard"].test_context() as agent:
            await agent.put(probe.to_json(), key=article.id.encode(), partition=away)

    _run(misroute())
    (letter,) = [DeadLetter.model_validate(value) for value in pipeline.records("deadletter")]
    assert letter.stage == "dedup-shard" and "home partition" in letter.reason
    assert not list(pipeline.dedup.shard_articles.keys())  # the shard did not take it in
    assert not pipeline.records("deduped") and not pipeline.records("dedup.reports")


def test_a_shard_partition_writes_each_article_once(
    pipeline: CapturingPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    written_keys: list[str] = []
    table = pipeline.dedup.shard_articles
    send_changelog = table.send_changelog

    def counting(partition: int | None, key: Any, value: Any, *args: Any) -> Any:
        written_keys.append(key)
        return send_changelog(partition, key, value, *args)

    monkeypatch.setattr(table, "send_changelog", counting)
    articles = [seed_tagged(number) for number in ("000", "001", "002")]
    _run(dedup_stage(pipeline, articles))
    # One changelog record per (article, partition holding one of its keys), whatever
    # the number of keys; the entry lists the article's keys of that partition.
    partitions = pipeline.settings.dedup_partitions
    expected = {
        f"{key_partition(key, partitions)}/{article.id}"
        for article in articles
        for key in probe_keys(signature_of(article))
    }
    assert sorted(written_keys) == sorted(expected)
    assert set(table.keys()) == expected
    for article in articles:
        keys = probe_keys(signature_of(article))
        stored = [
            key
            for partition in range(partitions)
            for key in written(table.get(f"{partition}/{article.id}", {})).get("keys", [])
        ]
        assert sorted(stored) == sorted(keys)


def test_dedup_entries_recovered_as_json_are_held_decoded_without_changelog_writes(
    pipeline: CapturingPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, copy = seed_tagged("000"), seed_tagged("002", FETCHED + timedelta(minutes=1))
    _run(dedup_stage(pipeline, [original]))
    tables = (pipeline.dedup.shard_articles, pipeline.dedup.decisions)
    recovered = [{key: written(value) for key, value in table.items()} for table in tables]
    for table, values in zip(tables, recovered, strict=True):
        table.data.update(values)  # what a recovery from the changelogs leaves in memory
    written_keys: list[str] = []
    for table in tables:

        def counting(
            partition: int | None,
            key: Any,
            value: Any,
            *args: Any,
            send: Any = table.send_changelog,
        ) -> Any:
            written_keys.append(key)
            return send(partition, key, value, *args)

        monkeypatch.setattr(table, "send_changelog", counting)
    _run(pipeline.dedup._forget_partitions())  # the tables' on_recover callback
    pipeline.take("deduped")
    _run(dedup_stage(pipeline, [copy]))
    assert verdicts(pipeline)[0].duplicate_of == "000"
    assert not any(key.endswith("000") for key in written_keys)  # the recovered entries
    assert all(not isinstance(value, dict) for table in tables for value in table.data.values())
    assert [
        {key: written(table.data[key]) for key in values}
        for table, values in zip(tables, recovered, strict=True)
    ] == recovered


def test_a_redelivered_article_gets_the_same_verdict(pipeline: CapturingPipeline) -> None:
    original, copy = seed_tagged("000"), seed_tagged("002")
    _run(dedup_stage(pipeline, [original, copy]))
    first = verdicts(pipeline)
    tables = (pipeline.dedup.shard_articles, pipeline.dedup.decisions)
    before = [dict(table.items()) for table in tables]
    pipeline.take("deduped")

    _run(dedup_stage(pipeline, [copy, original]))  # replayed, in another order
    assert verdicts(pipeline) == [first[1], first[0]]
    assert first[1].duplicate_of == "000"
    assert [dict(table.items()) for table in tables] == before
    assert only_verdicts(pipeline)


def test_dedup_agents_dead_letter_bad_messages_with_their_stage(
    pipeline: CapturingPipeline,
) -> None:
    async def scenario() -> None:
        for name in ("dedup-route", "dedup-shard", "dedup-decide"):
            async with pipeline.app.agents[name].test_context() as agent:
                await agent.put(b"{not json", key=name.encode())
                await agent.put(orjson.dumps({"article_id": "x"}), key=b"x-" + name.encode())

    _run(scenario())
    letters = [DeadLetter.model_validate(letter) for letter in pipeline.records("deadletter")]
    assert sorted((letter.article_id, letter.stage, letter.error_type) for letter in letters) == [
        ("dedup-decide", "dedup-decide", "invalid_json"),
        ("dedup-route", "dedup-route", "invalid_json"),
        ("dedup-shard", "dedup-shard", "invalid_json"),
        ("x-dedup-decide", "dedup-decide", "invalid_record"),
        ("x-dedup-route", "dedup-route", "invalid_record"),
        ("x-dedup-shard", "dedup-shard", "invalid_record"),
    ]
    assert not pipeline.records("deduped")


def test_dedup_tables_are_bounded_by_the_retention_window(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    # One partition: each partition forgets at its own pace, when later arrivals reach it.
    pipeline = make_pipeline(tmp_path, tagger, dedup_retention_days=1.0, dedup_partitions=1)
    articles = [
        seed_tagged(number, FETCHED + timedelta(days=day))
        for day, number in enumerate(("001", "003", "004"))
    ]
    _run(dedup_stage(pipeline, articles))

    # Every article is decided, 001 too, although 004 reached the decision (two days
    # later in arrival time) before 001's shard report did.
    assert sorted(verdict.article_id for verdict in verdicts(pipeline)) == ["001", "003", "004"]
    # 001 arrived two days before 004, more than the one-day window: forgotten.
    assert set(pipeline.dedup.shard_articles.keys()) == {"0/003", "0/004"}
    assert set(pipeline.dedup.decisions.keys()) == {"003", "004"}


async def story_stage(pipeline: CapturingPipeline, articles: list[DedupedArticle]) -> None:
    """Put ``articles`` into the story agent, then run every probe through the story
    index and every reply through the placing agent, as the broker would deliver them."""
    async with pipeline.app.agents["story"].test_context() as agent:
        for article in articles:
            await agent.put(article.to_json(), key=article.id.encode())
    if pipeline.settings.story_index_partitions:  # else placed in the story agent
        await deliver(pipeline, "stories.index", "story-index")
        await deliver(pipeline, "stories.candidates", "story-place")


def deduped_seed(number: str, duplicate_of: str | None = None, **changes: Any) -> DedupedArticle:
    tagged = seed_tagged(number).model_copy(update=changes)
    return DedupedArticle(
        **tagged.model_dump(),
        duplicate_of=duplicate_of,
        dedup=DedupVerdict(
            article_id=number,
            duplicate_of=duplicate_of,
            kind="near" if duplicate_of else "original",
        ),
    )


@pytest.mark.parametrize("partitions", [0, 3])
def test_story_agents_place_the_seeds_in_one_story_in_process_or_through_a_split_index(
    tmp_path: Path, tagger: EntityTagger, partitions: int
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, story_index_partitions=partitions)
    untagged = [
        deduped_seed(n, "000" if n == "002" else None) for n in ("000", "001", "002", "003", "004")
    ]
    articles = [
        article.model_copy(update={"entities": entities})
        for article, entities in zip(untagged, tagger.tag(untagged), strict=True)
    ]
    _run(story_stage(pipeline, articles))
    enriched = pipeline.records("enriched")
    assert [record["id"] for record in enriched] == ["000", "001", "002", "003", "004"]
    assert len({record["story_id"] for record in enriched}) == 1  # seeds/EXPECTED.md
    assert pipeline.records("stories")[-1]["article_count"] == 5
    if not partitions:  # the story agent's own index: nothing went through Kafka
        assert not pipeline.records("stories.index") and not pipeline.stories.index_articles
        assert not {"stories.index", "stories.candidates"} & set(pipeline.topics)
        assert not {"story-index", "story-place"} & set(pipeline.app.agents)
        return
    # The index is split over the partitions; the copy 002 probed none of them.
    index_articles = pipeline.stories.index_articles
    assert index_articles is not None
    held = {key.split("/")[1] for key in index_articles}
    shards = {int(key.split("/")[0]) for key in index_articles}
    assert held == {"000", "001", "003", "004"} and len(shards) == 3


def test_story_agents_are_idempotent(pipeline: CapturingPipeline) -> None:
    article = deduped_seed("003")
    _run(story_stage(pipeline, [article, article]))
    # Redelivery: the same version of the story again (the first one may have been lost
    # with a worker killed after its story state had the article), the enriched article
    # each time.
    first, again = pipeline.records("stories")
    assert again == first
    assert [r["story_id"] for r in pipeline.records("enriched")] == [first["story_id"]] * 2


def test_an_article_whose_index_replies_never_come_is_dead_lettered(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(
        tmp_path, tagger, story_index_partitions=1, story_index_timeout_seconds=0.2
    )

    async def scenario() -> None:
        async with pipeline.app.agents["story"].test_context() as agent:
            await agent.put(deduped_seed("001").to_json(), key=b"001")
            pipeline.take("stories.index")  # lost
            await asyncio.sleep(0.3)
            await agent.put(deduped_seed("003").to_json(), key=b"003")
        await deliver(pipeline, "stories.index", "story-index")
        await deliver(pipeline, "stories.candidates", "story-place")

    _run(scenario())
    (letter,) = pipeline.records("deadletter")
    assert (letter["stage"], letter["error_type"], letter["article_id"]) == (
        "story",
        "story_index_timeout",
        "001",
    )
    assert [record["id"] for record in pipeline.records("enriched")] == ["003"]


def test_story_state_table_forgets_the_members_of_retired_stories(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, story_index_partitions=1, story_cold_days=2.0)
    articles = [
        deduped_seed(number, published_at=FETCHED + timedelta(days=30 * day))
        for day, number in enumerate(("001", "003"))
    ]
    for article in articles:
        _run(story_stage(pipeline, [article]))
    # 001's story went cold a month before 003 arrived: only 003 rebuilds a live story.
    assert "001" not in pipeline.stories.clusterer and "003" in pipeline.stories.clusterer
    assert list(pipeline.stories.story_log.table.keys()) == ["003"]
    # The index forgot 001 too (entries older than the stories' retention).
    assert pipeline.stories.index_articles is not None
    assert list(pipeline.stories.index_articles.keys()) == ["0/003"]


@pytest.mark.parametrize("story_partitions", [0, 2])
def test_a_revision_through_dedup_and_stories_leaves_one_member_of_revision_2(
    tmp_path: Path, tagger: EntityTagger, story_partitions: int
) -> None:
    pipeline = make_pipeline(
        tmp_path, tagger, dedup_partitions=4, story_index_partitions=story_partitions
    )
    first = seed_tagged("000").model_copy(update={"content_hash": "first"})
    text = first.text.replace("Libya", "Libya's capital", 1)
    second = first.model_copy(
        update={
            "text": text,
            "fingerprint": fingerprint(text),
            "revision": 2,
            "content_hash": "second",
            "fetched_at": FETCHED + timedelta(hours=1),
        }
    )

    def through_both(article: TaggedArticle) -> DedupedArticle:
        _run(dedup_stage(pipeline, [article]))
        (deduped,) = [
            DedupedArticle.model_validate(value) for _, value, _ in pipeline.take("deduped")
        ]
        _run(story_stage(pipeline, [deduped]))
        return deduped

    through_both(first)
    through_both(seed_tagged("001"))
    updated = through_both(second)
    assert (updated.id, updated.revision, updated.duplicate_of) == ("000", 2, None)
    latest = {story["story_id"]: story for story in pipeline.records("stories")}
    members = sorted(
        (m["id"], m["revision"]) for story in latest.values() for m in story["members"]
    )
    assert members == [("000", 2), ("001", 1)]  # one member per article, however it moved
    assert pipeline.records("enriched")[-1]["revision"] == 2
    assert written(pipeline.dedup.decisions["000"])["revision"] == 2
    held = pipeline.stories.story_log.held("000")
    assert held is not None and held["seq"] == 0 and held["entry"]["article"]["revision"] == 2
    log = pipeline.stories.story_log.table

    tables = (pipeline.dedup.shard_articles, pipeline.dedup.decisions, log)
    before = [dict(table.items()) for table in tables]
    stories_sent = len(pipeline.records("stories"))
    assert through_both(second) == updated  # redelivered
    assert [dict(table.items()) for table in tables] == before
    (again,) = pipeline.records("stories")[stories_sent:]  # its story, the same version
    assert again == latest[again["story_id"]]
    assert pipeline.records("enriched")[-1]["revision"] == 2
