"""The dedup stage's orchestration without faust: routing, fan-out, reordering, verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.graph import DEDUP_PROBES, DEDUP_REPORTS, DEDUPED
from schemas.records import DedupProbe, DedupReport, TaggedArticle
from streams.dedup.flow import DedupFlow
from streams.dedup.index import ShardArticle
from streams.keyindex import key_partition
from streams.outgoing import Outgoing
from streams.text import fingerprint
from tests.conftest import SEEDS

FETCHED = datetime(2020, 5, 28, tzinfo=UTC)


def seed(number: str, seconds: int = 0) -> TaggedArticle:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    text = path.read_text()
    return TaggedArticle(
        id=number,
        text=text,
        fingerprint=fingerprint(text),
        fetched_at=FETCHED + timedelta(seconds=seconds),
    )


def flow(partitions: int, sources: int = 1) -> DedupFlow[str]:
    shards: dict[int, dict[str, ShardArticle]] = {}
    return DedupFlow(
        partitions=partitions,
        retention=timedelta(days=7),
        sources=sources,
        max_wait=60.0,
        shard_entries=lambda p: shards.setdefault(p, {}),
        decisions={},
    )


def duplicate_of(outgoing: list[Outgoing]) -> dict[str, Any]:
    """Each deduped article's ``duplicate_of``, by id."""
    assert {record.topic for record in outgoing} == {DEDUPED}
    return {record.key: orjson.loads(record.value)["duplicate_of"] for record in outgoing}


def through_shards(dedup: DedupFlow[str], articles: list[TaggedArticle]) -> list[Outgoing]:
    """Route ``articles``, then deliver every probe and report as the broker would."""
    probes = [
        sent for offset, article in enumerate(articles) for sent in dedup.route(article, offset)
    ]
    assert {record.topic for record in probes} == {DEDUP_PROBES}
    answers = [
        sent
        for probe in probes
        for sent in dedup.shard(DedupProbe.from_json(probe.value), probe.partition or 0)
    ]
    reports = [record for record in answers if record.topic == DEDUP_REPORTS]
    decided = [record for record in answers if record.topic == DEDUPED]
    for report in reports:
        assert report.partition == key_partition(report.key, dedup.partitions)
        decided += dedup.decide(DedupReport.from_json(report.value), report.partition)
    return decided


def test_one_partition_decides_at_once_and_sends_only_the_deduped_article() -> None:
    dedup = flow(1)
    sent = [
        record
        for offset, number in enumerate(("000", "001", "002"))
        for record in dedup.route(seed(number), offset)
    ]
    assert duplicate_of(sent) == {"000": None, "001": None, "002": "000"}
    assert all(record.partition is None for record in sent)


def test_the_partitioned_flow_gives_the_verdicts_of_the_one_partition() -> None:
    articles = [seed(number) for number in ("000", "001", "002")]
    decided = through_shards(flow(4), articles)
    assert duplicate_of(decided) == {"000": None, "001": None, "002": "000"}


def test_the_home_probe_carries_the_article_and_the_others_only_keys() -> None:
    article = seed("000")
    probes = [DedupProbe.from_json(record.value) for record in flow(4).route(article, 0)]
    home = key_partition(article.id, 4)
    (carrying,) = [probe for probe in probes if probe.article is not None]
    assert carrying.article == article
    assert carrying.shards_total == sum(1 for probe in probes if probe.keys)
    sent_to = [record.partition for record in flow(4).route(article, 0)]
    assert home in sent_to and len(sent_to) == len(set(sent_to))


def test_a_probe_carrying_its_article_away_from_home_is_refused() -> None:
    dedup = flow(4)
    article = seed("000")
    (home_probe,) = [
        record
        for record in dedup.route(article, 0)
        if DedupProbe.from_json(record.value).article is not None
    ]
    away = (key_partition(article.id, 4) + 1) % 4
    with pytest.raises(ValueError, match="home partition"):
        dedup.shard(DedupProbe.from_json(home_probe.value), away)


def test_an_article_waits_until_every_source_has_caught_up_or_its_wait_runs_out() -> None:
    dedup = flow(1, sources=2)
    assert dedup.hold(1, seed("002", 1), 0, "copy", now=0.0) == []
    assert dedup.hold(0, seed("000", 0), 0, "original", now=0.0) == ["original"]
    assert dedup.hold(None, seed("001", 5), 0, "unknown source", now=0.0) == ["unknown source"]
    assert dedup.overdue(now=1.0) == []
    assert dedup.overdue(now=61.0) == ["copy"]
