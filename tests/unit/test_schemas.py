"""The wire contract: JSON Schemas are current and records validate against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from schemas.generate import SCHEMA_DIR, render_schemas
from schemas.graph import ALL_TOPICS, topics_used
from schemas.records import DeadLetter, DedupVerdict, RawArticle


def test_published_json_schemas_are_current() -> None:
    rendered = render_schemas()
    on_disk = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == rendered, "schemas/json is stale: run `python -m schemas.generate`"


def test_every_topic_has_a_distinct_name_and_schema() -> None:
    names = [topic.name("newswire") for topic in ALL_TOPICS]
    assert len(set(names)) == len(names)
    assert len(render_schemas()) == len(ALL_TOPICS)


def test_an_index_in_process_has_no_topics() -> None:
    index_topics = {"dedup.probes", "dedup.reports", "stories.index", "stories.candidates"}
    in_process = {topic.role for topic in topics_used(dedup_partitions=1, story_index_partitions=0)}
    assert in_process == {topic.role for topic in ALL_TOPICS} - index_topics
    assert topics_used(dedup_partitions=2, story_index_partitions=1) == ALL_TOPICS
    partitioned = {
        topic.role: topic.partition_count(4, 3, 2)
        for topic in topics_used(dedup_partitions=3, story_index_partitions=2)
    }
    assert {role: partitioned[role] for role in index_topics} == {
        "dedup.probes": 3,
        "dedup.reports": 3,
        "stories.index": 2,
        "stories.candidates": 1,
    }


def test_records_serialise_to_json_that_their_schema_accepts() -> None:
    fetched = datetime(2020, 5, 28, 12, 0, tzinfo=UTC)
    samples = {
        "articles.raw.schema.json": RawArticle(id="a1", text="Body.", fetched_at=fetched),
        "deadletter.schema.json": DeadLetter(
            stage="clean", reason="empty", error_type="empty", payload="{}", failed_at=fetched
        ),
    }
    for name, record in samples.items():
        schema = json.loads((SCHEMA_DIR / name).read_text())
        document = json.loads(record.to_json())
        jsonschema.validate(document, schema)
        assert document["schema_version"] == 1


def test_records_round_trip_through_json() -> None:
    verdict = DedupVerdict(
        article_id="b", duplicate_of="a", kind="spun", method="anchors", score=0.7
    )
    assert DedupVerdict.from_json(verdict.to_json()) == verdict
