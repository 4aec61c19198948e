"""The replay reader's table of content seen: repeats, revisions, its growth and its bound."""

from __future__ import annotations

from newswire.replay.seen import BYTES_PER_ID, CONTENTS_KEPT, FIRST_BUCKETS, WAYS, SeenContent
from streams.text import content_hash


def seen(table: SeenContent, article_id: str, text: str) -> int | None:
    """The revision of ``text`` under ``article_id`` (None: a repeat), then remembered."""
    digest = content_hash(text)
    revision = table.revision(article_id, digest)
    table.add(article_id, digest)
    return revision


def test_new_content_is_the_next_revision_and_known_content_a_repeat() -> None:
    table = SeenContent(100)
    assert [seen(table, "a", text) for text in ["one", "two", "one", "three", "two"]] == [
        1,
        2,
        None,
        3,
        None,
    ]
    assert seen(table, "b", "one") == 1


def test_a_content_older_than_the_latest_kept_counts_as_new_again() -> None:
    table = SeenContent(100)
    texts = [f"version {n}" for n in range(CONTENTS_KEPT + 1)]
    assert [seen(table, "a", text) for text in texts] == list(range(1, CONTENTS_KEPT + 2))
    assert seen(table, "a", texts[1]) is None
    assert seen(table, "a", texts[0]) == CONTENTS_KEPT + 2


def test_the_table_keeps_its_size_and_forgets_the_least_recently_added_ids() -> None:
    table = SeenContent(WAYS)  # one bucket
    assert table.capacity == WAYS and table.nbytes == WAYS * BYTES_PER_ID
    for number in range(WAYS):
        seen(table, f"id-{number}", "first")
    seen(table, "id-0", "second")  # id-0 added to last: id-1 is now the least recent
    assert seen(table, "id-new", "first") == 1
    assert table.nbytes == WAYS * BYTES_PER_ID
    assert seen(table, "id-0", "second") is None  # kept
    assert seen(table, "id-1", "first") == 1  # forgotten: published again, as revision 1
    assert seen(table, "id-2", "first") == 1  # forgotten to make room for id-1


def test_a_table_rounds_up_to_a_power_of_two_of_buckets() -> None:
    assert SeenContent(1).capacity == WAYS
    assert SeenContent(WAYS * 10 + 1).capacity == WAYS * 16
    assert SeenContent(WAYS * 16).capacity == WAYS * 16


def test_a_table_starts_small_and_grows_to_its_capacity_without_forgetting() -> None:
    table = SeenContent(1_000_000)
    assert table.nbytes == FIRST_BUCKETS * WAYS * BYTES_PER_ID  # about 400 KB, not 54 MB
    ids = [f"id-{number}" for number in range(30_000)]
    for article_id in ids:
        seen(table, article_id, "first")
    assert FIRST_BUCKETS * WAYS * BYTES_PER_ID < table.nbytes < table.capacity * BYTES_PER_ID
    assert table.nbytes <= 8 * len(ids) * BYTES_PER_ID
    assert all(seen(table, article_id, "first") is None for article_id in ids)  # all kept
    assert [seen(table, article_id, "second") for article_id in ids[:3]] == [2, 2, 2]


def test_a_full_size_table_forgets_instead_of_growing() -> None:
    table = SeenContent(FIRST_BUCKETS * WAYS * 2)
    ids = [f"id-{number}" for number in range(table.capacity * 2)]
    for article_id in ids:
        seen(table, article_id, "first")
    assert table.nbytes == table.capacity * BYTES_PER_ID
    forgotten = sum(seen(table, article_id, "first") == 1 for article_id in ids[: len(ids) // 4])
    assert forgotten > len(ids) // 8
