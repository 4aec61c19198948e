"""Revisions in dedup: an update is judged afresh, a stale revision changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newswire.evaluation.variants import make_variant
from schemas.records import DedupMatch, TaggedArticle
from streams.dedup.index import DedupIndex, KeyShard, MatchRules, ShardReportCollector, Signature
from streams.keyindex import Arrival
from streams.revisions import Revision
from streams.text import content_hash, fingerprint
from tests.conftest import SEEDS, written

T0 = datetime(2020, 5, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def seed_text(number: str) -> str:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    return path.read_text(encoding="utf-8")


def article(article_id: str, text: str, revision: int = 1, minutes: int = 0) -> TaggedArticle:
    return TaggedArticle(
        id=article_id,
        text=text,
        fingerprint=fingerprint(text),
        revision=revision,
        content_hash=content_hash(text),
        fetched_at=T0 + timedelta(minutes=minutes),
    )


def check(index: DedupIndex, record: TaggedArticle) -> str | None:
    """The article copied by ``record``, by the index's verdict."""
    verdict = index.check(record, record.fetched_at)
    assert verdict.article_id == record.id
    return verdict.duplicate_of


def test_an_update_of_an_original_with_a_copy_is_judged_afresh() -> None:
    index = DedupIndex()
    other = article("other", seed_text("001"))
    original = article("a", seed_text("000"), minutes=1)
    copy = article("b", make_variant(original, "boilerplate").text, minutes=2)
    assert [check(index, record) for record in (other, original, copy)] == [None, None, "a"]
    # A correction: still the same text, nearly. Not a copy of its own copy (which
    # arrived after its first revision), nor of its own older revision.
    corrected = article("a", seed_text("000").replace("Libya", "Libya,", 1), 2, minutes=3)
    assert check(index, corrected) is None
    # Now the page carries another article's text: a copy of it...
    assert check(index, article("a", seed_text("001"), 3, minutes=4)) == "other"
    # ... and then text of its own again: no longer a copy.
    assert check(index, article("a", seed_text("004"), 4, minutes=5)) is None
    assert check(index, copy) == "a"  # the copy keeps its verdict
    assert len(index) == 3


def test_an_update_replaces_the_old_revisions_entries_in_the_index() -> None:
    index = DedupIndex()
    check(index, article("a", seed_text("000")))
    check(index, article("a", seed_text("004"), 2, minutes=1))
    # The old text is no longer held under "a"; the new one is.
    assert check(index, article("x", seed_text("000"), minutes=2)) is None
    assert check(index, article("y", seed_text("004"), minutes=3)) == "a"


def test_a_stale_revision_changes_nothing() -> None:
    index = DedupIndex()
    first, second = article("a", seed_text("001")), article("a", seed_text("000"), 2, minutes=1)
    check(index, article("earlier", seed_text("003")))
    check(index, first)
    updated = index.check(second, second.fetched_at)
    entry = written(index.decider.entries["a"])
    assert entry["revision"] == 2 and entry["content_hash"] == second.content_hash
    late = first.model_copy(update={"fetched_at": T0 + timedelta(minutes=5)})  # replayed
    assert index.check(late, late.fetched_at) == updated
    assert index.check(second, second.fetched_at) == updated  # redelivered
    assert written(index.decider.entries["a"]) == entry
    # The index still holds the second revision, not the first.
    assert check(index, article("copy-2", seed_text("000"), minutes=6)) == "a"
    assert check(index, article("copy-1", seed_text("001"), minutes=7)) is None


def test_a_revision_of_the_same_number_fetched_later_is_an_update() -> None:
    old = Revision(2, T0, "aaaa")
    assert Revision(2, T0 + DAY, "bbbb").updates(old)
    assert not Revision(2, T0 - DAY, "bbbb").updates(old)
    assert not Revision(3, T0 + DAY, "aaaa").updates(old)  # same content: a redelivery
    assert not Revision(1, T0 + DAY, "bbbb").updates(old)


def test_a_shard_drops_the_old_revisions_keys_and_keeps_its_arrival() -> None:
    shard = KeyShard(MatchRules(), retention=DAY)
    old_text, new_text = seed_text("000"), seed_text("004")
    first = Revision(1, T0, content_hash(old_text))
    second = Revision(2, T0 + DAY / 2, content_hash(new_text))
    shard.probe(
        "a", Arrival(T0, 0), Signature.of(old_text, fingerprint(old_text)), ["k1", "k2"], first
    )
    shard.probe(
        "a",
        Arrival(T0 + DAY / 2, 5),
        Signature.of(new_text, fingerprint(new_text)),
        ["k2", "k3"],
        second,
    )
    assert set(shard.buckets) == {"k2", "k3"}
    assert shard.articles["a"].arrival == Arrival(T0, 0)
    assert shard.articles["a"].revision == second
    # The first revision's place in the arrival order expires without taking the
    # second's entries (under the same arrival) twice.
    shard.probe(
        "late",
        Arrival(T0 + 2 * DAY, 6),
        Signature.of(old_text, fingerprint(old_text)),
        ["k4"],
        Revision(1, T0 + 2 * DAY, "late"),
    )
    assert set(shard.buckets) == {"k4"} and set(shard.articles) == {"late"}


def test_the_decider_takes_an_updates_reports_and_ignores_a_stale_ones() -> None:
    decider = ShardReportCollector(retention=DAY)
    first, second = Revision(1, T0, "one"), Revision(2, T0 + DAY / 4, "two")
    match = DedupMatch(
        article_id="orig",
        arrived_at=T0 - DAY / 4,
        sequence=0,
        kind="near",
        method="test",
        score=0.9,
    )
    decided = decider.add_article("a", Arrival(T0, 3), first, 0, {"revision": 1})
    assert decided is not None and decided.verdict.duplicate_of is None
    # The update's report comes before the update itself.
    assert decider.add_report("a", Arrival(T0 + DAY / 4, 9), second, 1, [match]) is None
    assert decider.add_report("a", Arrival(T0 + DAY / 4, 9), first, 1, []) is None  # stale
    assert decider.add_article("a", Arrival(T0 + DAY / 4, 9), first, 1, {"revision": 1}) is None
    decided = decider.add_article("a", Arrival(T0 + DAY / 4, 9), second, 1, {"revision": 2})
    assert decided is not None and decided.payload == {"revision": 2}
    assert decided.verdict.duplicate_of == "orig"
    assert written(decider.entries["a"])["sequence"] == 3  # the first revision's arrival
    assert decider.verdict("a", first) == decided.verdict
