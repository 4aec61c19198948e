"""The dedup evaluation streams the copies of either generator after their originals."""

from __future__ import annotations

from collections import Counter

import pytest

from newswire.evaluation.dedup import GENERATORS, build_stream, score_stream, wire_groups
from newswire.evaluation.spinner import SPINNER_KINDS
from streams.dedup.index import DedupIndex
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def articles() -> list[dict[str, str]]:
    return [
        {"id": path.stem, "text": path.read_text(encoding="utf-8")}
        for path in sorted(SEEDS.glob("*.txt"))
    ]


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_each_copy_follows_its_original(articles: list[dict[str, str]], generator: str) -> None:
    stream = build_stream(articles, seed=4, generator=generator)
    kinds = GENERATORS[generator][0]
    assert Counter(item.kind for item in stream) == {
        "original": len(articles),
        **dict.fromkeys(kinds, len(articles)),
    }
    seen: set[str] = set()
    for item in stream:
        assert item.source_id is None or item.source_id in seen
        seen.add(item.article.id)


def test_the_spinner_s_copies_are_scored_per_kind(articles: list[dict[str, str]]) -> None:
    stream = build_stream(articles, seed=4, generator="spinner")
    figures, rate = score_stream(stream, DedupIndex(), wire_groups(articles), SPINNER_KINDS)
    assert [kind for kind in figures if kind in SPINNER_KINDS] == list(SPINNER_KINDS)
    assert figures["all"]["copies"] == len(SPINNER_KINDS) * len(articles)
    assert rate > 0
