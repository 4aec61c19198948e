"""The pure pieces of the partitioned dedup index: KeyShard (on KeyBuckets), decide,
ShardReportCollector."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.records import DedupMatch, DuplicateKind
from streams.dedup.index import (
    KeyShard,
    MatchRules,
    ShardArticle,
    ShardReportCollector,
    Signature,
    decide,
    key_text,
    probe_keys,
    shard_key,
)
from streams.keyindex import Arrival, ArrivalClock
from streams.revisions import Revision
from streams.text import fingerprint
from tests.conftest import SEEDS, written

T0 = datetime(2020, 5, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
REV = Revision(1, T0, "")


def signature(number: str) -> Signature:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    text = path.read_text()
    return Signature.of(text, fingerprint(text))


def shard(**options: Any) -> KeyShard:
    return KeyShard(MatchRules(), retention=options.pop("retention", 7 * DAY), **options)


def match(article_id: str, seq: int, kind: str = "near", score: float = 0.9) -> DedupMatch:
    return DedupMatch(
        article_id=article_id, arrived_at=T0, sequence=seq, kind=kind, method="test", score=score
    )


def test_probe_matches_earlier_entries_then_adds_the_article() -> None:
    keys = shard()
    original, copy = signature("000"), signature("002")
    assert keys.probe("000", Arrival(T0, 0), original, ["k"], REV) == []
    (found,) = keys.probe("002", Arrival(T0, 1), copy, ["k"], REV)
    assert found.article_id == "000" and found.kind in {"near", "spun"}
    assert keys.bucket("k") == ["000", "002"]


def test_probe_is_idempotent_and_never_matches_itself() -> None:
    keys = shard()
    original, copy = signature("000"), signature("002")
    keys.probe("000", Arrival(T0, 0), original, ["k"], REV)
    first = keys.probe("002", Arrival(T0, 1), copy, ["k"], REV)
    # nothing arrived before it
    assert keys.probe("000", Arrival(T0, 5), original, ["k"], REV) == []
    assert keys.probe("002", Arrival(T0, 6), copy, ["k"], REV) == first
    assert keys.bucket("k") == ["000", "002"]


def test_exact_copies_match_under_the_fingerprint_key() -> None:
    keys = shard()
    original = signature("004")
    key = f"fp:{original.fingerprint}"
    assert key in probe_keys(original)
    keys.probe("004", Arrival(T0, 0), original, [key], REV)
    (found,) = keys.probe("copy", Arrival(T0, 1), original, [key], REV)
    assert (found.article_id, found.kind, found.score) == ("004", "exact", 1.0)


def test_a_shard_holds_probe_keys_as_numbers_and_gives_them_back_as_they_were() -> None:
    keys = probe_keys(signature("000"))
    held = [shard_key(key) for key in keys]
    assert all(isinstance(key, int) for key in held) and len(set(held)) == len(keys)
    assert [key_text(key) for key in held] == keys
    for other in ("k", "0123456789ABCDEF", "fp:short", "0123456789abcdef0"):
        assert shard_key(other) == other and key_text(other) == other


def test_buckets_keep_the_most_recent_entries_and_forget_old_ones() -> None:
    keys = shard(retention=DAY, max_bucket=2)
    text = signature("001")
    for seq, hours in enumerate((0, 1, 2)):
        keys.probe(f"a{seq}", Arrival(T0 + timedelta(hours=hours), seq), text, ["k"], REV)
    assert keys.bucket("k") == ["a1", "a2"]
    keys.probe("late", Arrival(T0 + 2 * DAY, 3), signature("003"), ["other"], REV)
    assert "k" not in keys.buckets  # a1 and a2 arrived over a day before the newest
    assert keys.bucket("other") == ["late"]


def test_a_shard_rebuilt_from_its_json_state_forgets_the_same() -> None:
    keys = shard(retention=DAY, max_bucket=2)
    keys.probe("old", Arrival(T0, 0), signature("001"), ["k1"], REV)
    keys.probe("new", Arrival(T0 + DAY / 2, 1), signature("003"), ["k1", "k2"], REV)
    keys.probe("newer", Arrival(T0 + DAY / 2, 2), signature("004"), ["k2"], REV)
    stored = {
        article_id: json.loads(json.dumps(held.to_json()))
        for article_id, held in keys.articles.items()
    }
    rebuilt = shard(
        retention=DAY,
        max_bucket=2,
        articles={article_id: ShardArticle.from_json(data) for article_id, data in stored.items()},
    )
    assert rebuilt.buckets == keys.buckets
    rebuilt.probe("newest", Arrival(T0 + 1.5 * DAY, 3), signature("000"), ["k3"], REV)
    assert set(rebuilt.buckets) == {"k1", "k2", "k3"} and "old" not in rebuilt.articles
    (found,) = rebuilt.probe("copy", Arrival(T0 + 1.5 * DAY, 4), signature("003"), ["k2"], REV)
    assert (found.article_id, found.kind) == ("new", "exact")


def test_an_article_is_kept_while_a_bucket_holds_it() -> None:
    keys = shard(retention=DAY, max_bucket=1)
    first, second = signature("001"), signature("003")
    keys.probe("a", Arrival(T0, 0), first, ["k1", "k2"], REV)
    assert set(keys.articles) == {"a"} and keys.articles["a"].signature == first
    keys.probe("b", Arrival(T0, 1), second, ["k1"], REV)  # pushes "a" out of k1; k2 still holds it
    assert set(keys.articles) == {"a", "b"}
    keys.probe("c", Arrival(T0, 2), second, ["k2"], REV)  # and out of k2: its last bucket
    assert set(keys.articles) == {"b", "c"}
    keys.probe("late", Arrival(T0 + 2 * DAY, 3), first, ["k3"], REV)  # b and c are evicted
    assert set(keys.articles) == {"late"}
    assert list(keys.buckets) == ["k3"] and keys.bucket("k3") == ["late"]


@dataclass(frozen=True)
class CountingRules(MatchRules):
    """The usual rules, recording the pairs compared."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def match(self, new: Signature, old: Signature) -> tuple[DuplicateKind, str, float] | None:
        self.pairs.append((new.fingerprint, old.fingerprint))
        return super().match(new, old)


def test_an_article_is_compared_once_with_each_candidate() -> None:
    rules = CountingRules()
    keys = KeyShard(rules, retention=DAY)
    original, copy, other = signature("000"), signature("002"), signature("001")
    shared = ["k1", "k2", "k3"]
    keys.probe("000", Arrival(T0, 0), original, shared, REV)
    keys.probe("001", Arrival(T0, 1), other, shared, REV)
    found = keys.probe("002", Arrival(T0, 2), copy, shared, REV)
    # Two candidates under three shared keys: two comparisons, one match.
    assert sorted(rules.pairs[-2:]) == sorted(
        [(copy.fingerprint, original.fingerprint), (copy.fingerprint, other.fingerprint)]
    )
    assert len(rules.pairs) == 3  # and 001 against 000, once
    assert [match.article_id for match in found] == ["000"]
    assert keys.probe("002", Arrival(T0, 2), copy, shared, REV) == found  # redelivered


def test_decide_earliest_arrival_wins_and_never_itself() -> None:
    arrival = Arrival(T0, 10)
    verdict = decide(
        "me",
        arrival,
        [
            match("me", 1, "exact", 1.0),
            match("b", 5, "exact", 1.0),
            match("a", 3, "spun", 0.6),
            match("later", 12, "exact"),
        ],
    )
    assert (verdict.duplicate_of, verdict.kind, verdict.score) == ("a", "spun", 0.6)
    assert decide("me", arrival, [match("me", 1), match("later", 12)]).duplicate_of is None


def test_decide_prefers_exact_then_near_then_spun_at_equal_arrival() -> None:
    arrival = Arrival(T0, 10)
    found = [match("a", 3, "spun", 0.9), match("a", 3, "near", 0.7), match("a", 3, "exact", 1.0)]
    assert decide("me", arrival, found).kind == "exact"
    assert decide("me", arrival, found[:2]).kind == "near"


def test_decider_waits_for_every_report_and_is_idempotent() -> None:
    decider = ShardReportCollector(retention=DAY)
    arrival = Arrival(T0, 4)
    assert decider.add_report("x", arrival, REV, 1, [match("a", 1)]) is None
    assert decider.add_article("x", arrival, REV, 2, {"id": "x"}) is None
    assert decider.add_report("x", arrival, REV, 1, [match("a", 1)]) is None  # redelivered
    decided = decider.add_report("x", arrival, REV, 2, [])
    assert decided is not None and decided.payload == {"id": "x"}
    assert decided.verdict.duplicate_of == "a"
    assert decider.entries.keys() == {"x"} and decider.verdict("x", REV) == decided.verdict
    again = decider.add_article("x", Arrival(T0, 9), REV, 2, {"id": "x", "replayed": True})
    assert again is not None and again.verdict == decided.verdict
    assert decider.add_report("x", arrival, REV, 2, []) is None
    assert written(decider.entries["x"]) == {
        "arrived_at": T0.isoformat(),
        "sequence": 4,
        **REV.to_json(),
        "verdict": decided.verdict.model_dump(mode="json"),
    }


def test_decider_takes_the_home_shards_matches_with_the_article() -> None:
    alone = ShardReportCollector(retention=DAY)
    decided = alone.add_article(
        "x", Arrival(T0, 4), REV, 1, {"id": "x"}, home_report=(0, [match("a", 1)])
    )
    assert decided is not None and decided.verdict.duplicate_of == "a"
    waiting = ShardReportCollector(retention=DAY)
    arrival = Arrival(T0, 4)
    assert (
        waiting.add_article("x", arrival, REV, 2, {"id": "x"}, home_report=(0, [match("a", 2)]))
        is None
    )
    assert waiting.add_report("x", arrival, REV, 0, [match("b", 1)]) is None  # home again: ignored
    decided = waiting.add_report("x", arrival, REV, 1, [])
    assert decided is not None and decided.verdict.duplicate_of == "a"


def test_decider_forgets_decided_articles_older_than_the_window() -> None:
    decider = ShardReportCollector(retention=DAY)
    decider.add_article("old", Arrival(T0, 0), REV, 0, None)
    decider.add_article("new", Arrival(T0 + 2 * DAY, 1), REV, 0, None)
    assert set(decider.entries) == {"new"}


def test_decider_keeps_an_article_waiting_for_a_part_until_it_is_decided() -> None:
    # A replay jumps ahead in time: "later" reaches the decision before a report of
    # "early" does. Forgetting "early" then would lose it.
    decider = ShardReportCollector(retention=DAY)
    assert decider.add_article("early", Arrival(T0, 0), REV, 1, {"id": "early"}) is None
    decider.add_article("later", Arrival(T0 + 20 * DAY, 1), REV, 0, None)
    decided = decider.add_report("early", Arrival(T0, 0), REV, 0, [])
    assert decided is not None and decided.payload == {"id": "early"}
    assert set(decider.entries) == {"later"}  # decided, and out of the window


def test_decider_bounds_the_articles_that_never_get_all_their_parts() -> None:
    decider = ShardReportCollector(retention=DAY, max_overdue=1)
    decider.add_report("stuck-1", Arrival(T0, 0), REV, 0, [])  # their articles never came
    decider.add_report("stuck-2", Arrival(T0, 1), REV, 0, [])
    decider.add_article("new", Arrival(T0 + 2 * DAY, 2), REV, 0, None)
    assert set(decider.entries) == {"stuck-2", "new"}


def test_the_clock_never_goes_back() -> None:
    clock = ArrivalClock()
    first = clock.stamp(T0 + DAY)
    second = clock.stamp(T0)
    assert second > first and second.time == first.time
    assert clock.stamp(T0, seq=40) == Arrival(T0 + DAY, 40)
