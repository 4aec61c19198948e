"""The replay reader's table of content seen: repeats, revisions, and its fixed bound."""

from __future__ import annotations

from newswire.replay.seen import BYTES_PER_ID, CONTENTS_KEPT, WAYS, SeenContent
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


def test_a_table_rounds_up_to_whole_buckets() -> None:
    assert SeenContent(1).capacity == WAYS
    assert SeenContent(WAYS * 10 + 1).capacity == WAYS * 11
