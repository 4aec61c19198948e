"""DedupIndex on the seed stream (seeds/ and seeds/EXPECTED.md) and on constructed copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from newswire.evaluation.variants import make_variant
from schemas.records import DedupVerdict, TaggedArticle
from streams.dedup.index import DedupIndex, MatchRules, Signature, aligned_share, probe_keys
from streams.text import fingerprint
from tests.conftest import SEEDS

T0 = datetime(2020, 5, 28, 12, 0, tzinfo=UTC)


def article(article_id: str, text: str) -> TaggedArticle:
    return TaggedArticle(id=article_id, text=text, fingerprint=fingerprint(text), fetched_at=T0)


def seed_article(path: Path) -> TaggedArticle:
    """A seed with a light cleanup: a first line that is a headline (no final stop) dropped."""
    lines = path.read_text(encoding="utf-8").strip().split("\n")
    if not lines[0].rstrip().endswith((".", "”", '"')):
        lines = lines[1:]
    return article(path.name[:3], "\n".join(lines).strip())


@pytest.fixture(scope="module")
def seeds() -> dict[str, TaggedArticle]:
    return {a.id: a for a in map(seed_article, sorted(SEEDS.glob("*.txt")))}


def run(index: DedupIndex, articles: list[TaggedArticle]) -> dict[str, DedupVerdict]:
    return {a.id: index.check(a, T0 + timedelta(minutes=n)) for n, a in enumerate(articles)}


def relations(verdicts: dict[str, DedupVerdict]) -> dict[str, str | None]:
    return {article_id: v.duplicate_of for article_id, v in verdicts.items() if v.duplicate_of}


def test_seed_stream_has_one_duplicate_relation(seeds: dict[str, TaggedArticle]) -> None:
    verdicts = run(DedupIndex(), list(seeds.values()))
    assert relations(verdicts) == {"002": "000"}
    assert verdicts["002"].kind in {"spun", "near"}
    assert 0 < verdicts["002"].score <= 1
    for original in ("000", "001", "003", "004"):
        assert verdicts[original].kind == "original"
        assert verdicts[original].duplicate_of is None


def test_earliest_seen_is_the_original(seeds: dict[str, TaggedArticle]) -> None:
    order = ["002", "004", "003", "001", "000"]
    verdicts = run(DedupIndex(), [seeds[i] for i in order])
    assert relations(verdicts) == {"000": "002"}


def test_same_id_again_gives_the_same_verdict(seeds: dict[str, TaggedArticle]) -> None:
    index = DedupIndex()
    first = run(index, list(seeds.values()))
    again = run(index, list(seeds.values()))
    assert again == first
    assert all(v.duplicate_of != v.article_id for v in again.values())
    assert len(index) == len(seeds)


def test_exact_copy_is_exact(seeds: dict[str, TaggedArticle]) -> None:
    copy = article("copy", "  " + seeds["001"].text.upper() + "\n")
    verdicts = run(DedupIndex(), [seeds["001"], copy])
    assert verdicts["copy"].duplicate_of == "001"
    assert verdicts["copy"].kind == "exact"


def test_copy_with_other_boilerplate(seeds: dict[str, TaggedArticle]) -> None:
    junk = "Advertisement\n\nSkip to content\n\n{}\n\nShare this: Twitter Facebook\n\nRelated"
    copy = article("copy", junk.format(seeds["003"].text))
    verdicts = run(DedupIndex(), [seeds["003"], seeds["001"], copy])
    assert verdicts["copy"].duplicate_of == "003"
    assert verdicts["copy"].kind == "near"


@pytest.mark.parametrize("kind", ["boilerplate", "truncated", "shuffled", "spun"])
def test_generated_copies_point_to_their_original(
    seeds: dict[str, TaggedArticle], kind: str
) -> None:
    for source in ("000", "001", "003", "004"):
        variant = make_variant(seeds[source], kind)  # type: ignore[arg-type]
        verdicts = run(DedupIndex(), [*seeds.values(), article(variant.id, variant.text)])
        assert verdicts[variant.id].duplicate_of == source


def test_copy_of_a_copy_points_to_the_first_original(seeds: dict[str, TaggedArticle]) -> None:
    spun = make_variant(seeds["001"], "spun")
    cut = make_variant({"id": spun.id, "text": spun.text}, "truncated")
    verdicts = run(
        DedupIndex(), [seeds["001"], article(spun.id, spun.text), article(cut.id, cut.text)]
    )
    assert verdicts[spun.id].duplicate_of == "001"
    assert verdicts[cut.id].duplicate_of == "001"


def test_old_articles_are_evicted(seeds: dict[str, TaggedArticle]) -> None:
    index = DedupIndex(retention=timedelta(days=1))
    index.check(seeds["000"], T0)
    index.check(seeds["001"], T0 + timedelta(hours=12))
    assert len(index) == 2
    verdict = index.check(seeds["002"], T0 + timedelta(days=2))
    assert verdict.duplicate_of is None  # its original is older than the window
    assert len(index) == 1


def keys_of(article: TaggedArticle) -> list[str]:
    return probe_keys(Signature.of(article.text, article.fingerprint))


def test_copies_share_a_candidate_key(seeds: dict[str, TaggedArticle]) -> None:
    keys = keys_of(seeds["000"])
    assert keys and all(isinstance(key, str) for key in keys)
    assert len(set(keys)) == len(keys)
    assert set(keys) & set(keys_of(seeds["002"]))


def test_exact_copies_share_the_fingerprint_key(seeds: dict[str, TaggedArticle]) -> None:
    copy = article("copy", seeds["004"].text.upper())
    assert f"fp:{seeds['004'].fingerprint}" in set(keys_of(seeds["004"])) & set(keys_of(copy))


STORM = (
    "The storm destroyed hundreds of homes along the coast and left thousands of families"
    " without power or clean water for several days, officials said on Monday, as rescue"
    " crews searched flooded streets for people trapped in their houses."
)
STORM_SPUN = (  # a quarter of its content words swapped, as a spinner does
    "The tempest wrecked hundreds of houses along the shore and left thousands of families"
    " without electricity or clean water for several days, authorities said on Monday, as"
    " rescue crews searched flooded streets for people trapped in their houses."
)
STORM_WRITTEN_APART = (  # most of the same words, in another order
    "Rescue crews searched the streets on Monday. Thousands of people were trapped without"
    " power after the storm, and hundreds of families left their flooded homes along the"
    " coast; clean water will be short for several days, officials said."
)


def test_a_spun_copy_with_too_few_names_is_found_by_its_words_in_order() -> None:
    original, spun = Signature.of(STORM, "a"), Signature.of(STORM_SPUN, "b")
    assert len(spun.anchor_grams) < MatchRules().min_shared_anchors  # no anchor test
    found = MatchRules().match(spun, original)
    assert found is not None
    assert found[:2] == ("spun", "aligned")
    assert found[2] > 0.65  # 16 steps between its 23 content words


def test_a_report_written_apart_with_the_same_words_is_not_a_copy() -> None:
    original, other = Signature.of(STORM, "a"), Signature.of(STORM_WRITTEN_APART, "b")
    assert MatchRules().match(other, original) is None
    assert aligned_share(other.content_words, original.content_words) < 0.4


def test_aligned_share_counts_steps_along_one_diagonal() -> None:
    words = np.arange(10, dtype=np.uint16)
    assert aligned_share(words, words) == 0.9  # 9 steps between 10 shared words
    swapped = words.copy()
    swapped[[2, 5, 8]] = [100, 101, 102]  # one word in three or four replaced
    assert aligned_share(swapped, words) == 0.6  # 7 shared words, 6 steps skip one each
    assert aligned_share(words[::-1].copy(), words) == 0.0  # no two in the same order
    assert aligned_share(words[:0], words) == 0.0


def test_a_signature_without_content_words_from_an_older_changelog_still_loads() -> None:
    data = Signature.of(STORM, "a").to_json()
    del data["content_words"]
    assert len(Signature.from_json(data).content_words) == 0
