"""The copy generator produces what it says, with its ground truth."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from newswire.evaluation.spinner import (
    SPINNER_KINDS,
    CorpusDictionary,
    make_copies,
    misspell,
    shape,
)
from newswire.evaluation.variants import SYNONYMS, VARIANT_KINDS, make_variant, make_variants
from streams.dedup.index import STOPWORDS
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def articles() -> list[dict[str, str]]:
    return [
        {"id": path.stem, "text": path.read_text(encoding="utf-8"), "title": "A title"}
        for path in sorted(SEEDS.glob("*.txt"))
    ]


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]+", text) if w.islower() and w not in STOPWORDS]


def test_every_article_gets_every_kind_with_its_ground_truth(
    articles: list[dict[str, str]],
) -> None:
    variants = make_variants(articles, seed=3)
    assert len(variants) == len(articles) * len(VARIANT_KINDS)
    assert len({v.id for v in variants}) == len(variants)
    source_ids = {a["id"] for a in articles}
    assert {v.source_id for v in variants} == source_ids
    assert all(v.id not in source_ids for v in variants)
    assert Counter(v.kind for v in variants) == dict.fromkeys(VARIANT_KINDS, len(articles))


def test_deterministic_under_a_seed(articles: list[dict[str, str]]) -> None:
    assert make_variants(articles, seed=1) == make_variants(articles, seed=1)
    assert make_variants(articles, seed=1) != make_variants(articles, seed=2)


def test_boilerplate_copy_keeps_the_text_verbatim(articles: list[dict[str, str]]) -> None:
    for a in articles:
        copy = make_variant(a, "boilerplate")
        assert a["text"].strip() in copy.text
        assert len(copy.text) > len(a["text"].strip())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truncated_copy_is_a_prefix_of_40_to_70_percent(
    articles: list[dict[str, str]], seed: int
) -> None:
    for a in articles:
        copy = make_variant(a, "truncated", seed)
        assert a["text"].startswith(copy.text)
        kept = len(copy.text.split()) / len(a["text"].split())
        assert 0.4 <= kept <= 0.7
        assert copy.kept_fraction == pytest.approx(kept)


def test_shuffled_copy_has_the_same_paragraphs_in_another_order(
    articles: list[dict[str, str]],
) -> None:
    for a in articles:
        copy = make_variant(a, "shuffled")
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", a["text"]) if p.strip()]
        shuffled = [p.strip() for p in re.split(r"\n\s*\n", copy.text) if p.strip()]
        assert Counter(shuffled) == Counter(paragraphs)
        assert shuffled != paragraphs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spun_copy_replaces_20_to_40_percent_of_content_words(
    articles: list[dict[str, str]], seed: int
) -> None:
    for a in articles:
        copy = make_variant(a, "spun", seed)
        assert copy.content_words == len(content_words(a["text"]))
        assert 0.2 <= copy.replaced_fraction <= 0.4
        assert copy.function_swaps > 0
        # words of the table that the copy lost: at least the replaced ones, minus
        # those a synonym of another word may have brought back
        before, after = Counter(content_words(a["text"])), Counter(content_words(copy.text))
        lost = sum((before - after)[w] for w in before if w in SYNONYMS)
        assert lost >= copy.replaced_words * 0.8


def test_spun_copy_keeps_names_and_numbers(articles: list[dict[str, str]]) -> None:
    for a in articles:
        copy = make_variant(a, "spun")

        def names(text: str) -> Counter[str]:
            return Counter(re.findall(r"\b(?:[A-Z][a-z]+ [A-Z][a-z]+|\d+)\b", text))

        assert names(copy.text) == names(a["text"])


@pytest.mark.parametrize("seed", [0, 1])
def test_spun_and_truncated_copy_is_a_spun_text_cut_to_40_to_70_percent(
    articles: list[dict[str, str]], seed: int
) -> None:
    for a in articles:
        copy = make_variant(a, "spun_truncated", seed)
        assert 0.4 <= copy.kept_fraction <= 0.7
        assert copy.replaced_words > 0
        assert len(copy.text.split()) < 0.75 * len(a["text"].split())


# -- the second generator (newswire.evaluation.spinner) ------------------------------------


def test_the_corpus_dictionary_maps_each_word_to_another_corpus_word_of_its_shape(
    articles: list[dict[str, str]],
) -> None:
    dictionary = CorpusDictionary(a["text"] for a in articles)
    corpus_words = {w for a in articles for w in content_words(a["text"])}
    assert len(dictionary.table) > 0.9 * len(corpus_words)
    for word, target in dictionary.table.items():
        assert target != word and target in corpus_words
        assert shape(target) == shape(word)
    assert set(dictionary.table.values()) == set(dictionary.table)  # a permutation
    own = sum(1 for word, target in dictionary.table.items() if target in SYNONYMS.get(word, ()))
    assert own <= 0.01 * len(dictionary.table)  # not the variants synonym table


def test_misspelling_changes_one_letter_of_a_long_word() -> None:
    rng = random.Random(2)
    for _ in range(50):
        typo = misspell("protection", rng)  # no two adjacent letters alike: always changed
        assert typo != "protection" and typo[0] == "p"
        assert abs(len(typo) - len("protection")) <= 1
        assert sorted(typo) == sorted("protection") or len(typo) != len("protection")
    assert misspell("the", rng) == "the"


@pytest.mark.parametrize("seed", [0, 1])
def test_respun_copies_rewrite_words_and_drop_sentences_but_keep_names(
    articles: list[dict[str, str]], seed: int
) -> None:
    copies = {(c.source_id, c.kind): c for c in make_copies(articles, seed=seed)}
    assert Counter(kind for _, kind in copies) == dict.fromkeys(SPINNER_KINDS, len(articles))

    def numbers(text: str) -> set[str]:
        return set(re.findall(r"\b\d+\b", text))

    for a in articles:
        respun = copies[a["id"], "respun"]
        before, after = Counter(content_words(a["text"])), Counter(content_words(respun.text))
        assert sum((before - after).values()) >= 0.25 * sum(before.values())
        assert numbers(respun.text) <= numbers(a["text"])
        assert len(respun.text.split()) < len(a["text"].split())  # sentences dropped
        cut = copies[a["id"], "respun_truncated"]
        assert 0.4 <= cut.kept_fraction <= 0.7
    assert make_copies(articles, seed=seed) == make_copies(articles, seed=seed)
    assert make_copies(articles, seed=seed) != make_copies(articles, seed=seed + 2)
