"""The running app agrees with the graph declared in :mod:`schemas.graph`: each agent reads
its stage's input topic and writes only its stages' declared outputs (and dead letters)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from newswire.replay.inputs import read_inputs
from schemas.graph import DEAD_LETTERS, TopicSpec, stages_used
from schemas.records import RawArticle
from schemas.settings import Settings
from streams.tag.entities import EntityTagger
from tests.agent.test_agents import CapturingPipeline, deliver
from tests.conftest import SEEDS


class SenderRecordingPipeline(CapturingPipeline):
    """A capturing pipeline that also records which agent (the one ``running``, the only
    one in its test context) sent each record to which topic."""

    def __init__(self, settings: Settings, entity_tagger: EntityTagger) -> None:
        super().__init__(settings, entity_tagger)
        self.running = ""
        self.senders: set[tuple[str, str]] = set()

    async def send(
        self,
        topic: TopicSpec,
        key: str,
        value: bytes,
        partition: int | None = None,
        headers: dict[str, bytes] | None = None,
        stage: str | None = None,
    ) -> None:
        self.senders.add((self.running, topic.role))
        await super().send(topic, key, value, partition, headers, stage)


async def run_everything(pipeline: SenderRecordingPipeline) -> None:
    """Every seed through every agent, each one's output delivered to the next."""
    raws = [RawArticle.from_json(message.value) for message in read_inputs([SEEDS])]
    pipeline.running = "clean"
    async with pipeline.app.agents["clean"].test_context() as agent:
        for raw in raws:
            await agent.put(raw.to_json(), key=raw.id.encode())
        await pipeline.wait_for(2 * len(raws))
    pipeline.take("clean")
    order = [
        ("tagged", "dedup-route"),
        ("dedup.probes", "dedup-shard"),
        ("dedup.reports", "dedup-decide"),
        ("deduped", "story"),
        ("stories.index", "story-index"),
        ("stories.candidates", "story-place"),
        ("stories", "store"),
    ]
    for role, agent_name in order:
        if agent_name in pipeline.app.agents:
            pipeline.running = agent_name
            await deliver(pipeline, role, agent_name)


@pytest.mark.parametrize(("dedup_partitions", "story_index_partitions"), [(1, 0), (4, 2)])
def test_each_agent_reads_its_declared_input_and_writes_only_declared_outputs(
    tmp_path: Path, tagger: EntityTagger, dedup_partitions: int, story_index_partitions: int
) -> None:
    settings = Settings(
        broker_url="kafka://127.0.0.1:9",
        broker_profile="kafka",
        data_dir=tmp_path,
        batch_seconds=0.01,
        dedup_partitions=dedup_partitions,
        story_index_partitions=story_index_partitions,
    )
    pipeline = SenderRecordingPipeline(settings, tagger)
    stages = stages_used(dedup_partitions, story_index_partitions)
    prefix = pipeline.settings.topic_prefix
    assert {
        name: agent.channel.get_topic_name() for name, agent in pipeline.app.agents.items()
    } == {stage.agent: stage.reads.name(prefix) for stage in stages}
    asyncio.run(run_everything(pipeline))
    declared = {
        (stage.agent, topic.role) for stage in stages for topic in (*stage.writes, DEAD_LETTERS)
    }
    assert pipeline.senders - declared == set()
    # Every declared output of the run's path was written (the seeds have no dead letter).
    assert {role for _, role in declared} - {role for _, role in pipeline.senders} == {
        DEAD_LETTERS.role
    }
