"""The topics as the worker creates them on a real broker."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agents.runtime.broker import bootstrap_servers
from schemas.graph import DEAD_LETTERS, RAW, STORIES
from schemas.settings import Settings


async def _configs(settings: Settings, topic: str) -> dict[str, str]:
    assert settings.broker_url
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url))
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    ((*_, entries),) = response.resources
    return {entry[0]: entry[1] for entry in entries}


def test_topics_are_created_with_their_configuration(pipeline_settings: Settings) -> None:
    prefix = pipeline_settings.topic_prefix
    stories = asyncio.run(_configs(pipeline_settings, STORIES.name(prefix)))
    assert stories["cleanup.policy"] == "compact"
    assert "retention.ms" not in stories
    raw = asyncio.run(_configs(pipeline_settings, RAW.name(prefix)))
    assert raw["cleanup.policy"] == "delete"
    assert raw["retention.ms"] == str(7 * 24 * 3600 * 1000)
    assert raw["max.message.bytes"] == str(pipeline_settings.max_record_bytes)
    letters = asyncio.run(_configs(pipeline_settings, DEAD_LETTERS.name(prefix)))
    assert letters["retention.ms"] == str(30 * 24 * 3600 * 1000)
