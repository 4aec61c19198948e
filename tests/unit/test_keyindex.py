"""KeyBuckets: the inverted index of recent articles that dedup and stories share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.keyindex import Arrival, KeyBuckets
from streams.stories.clusterer import IndexedArticle

T0 = datetime(2020, 5, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def enter(
    index: KeyBuckets[IndexedArticle], article_id: str, seq: int, *keys: str, at: datetime = T0
) -> dict[str, int]:
    """Enter an article; the earlier ones it found, with the keys they share."""
    found = index.enter(article_id, IndexedArticle(Arrival(at, seq), keys))
    return {candidate.article_id: candidate.shared_keys for candidate in found}


def test_a_common_key_is_counted_but_not_looked_up_until_its_entries_expire() -> None:
    index = KeyBuckets[IndexedArticle](
        retention=DAY, max_bucket=2, max_candidates=10, common_key_articles=3
    )
    for seq in range(3):
        enter(index, f"a{seq}", seq, "common", f"rare{seq}")
    # three articles entered under "common": at the limit, it is still looked up
    assert enter(index, "b", 3, "common", "rare0") == {"a0": 1, "a1": 1, "a2": 1}
    # four entered (the bucket keeps two): over the limit, only "rare0" finds anything
    assert enter(index, "c", 4, "common", "rare0") == {"a0": 1, "b": 1}
    assert index.bucket("common") == ["b", "c"]
    # a day later the earlier entries have expired: "common" is rare again
    later = T0 + DAY + timedelta(hours=1)
    enter(index, "d", 5, "common", at=later)
    assert enter(index, "e", 6, "common", at=later) == {"d": 1}
