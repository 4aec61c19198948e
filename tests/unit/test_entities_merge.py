"""Story-level entity merging on large synthetic stories (no model): correct and order-free."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import product

import pytest

from schemas.records import Entity, EntityType, StoryEntity
from streams.tag.entities import StoryEntityMerge, entity_id, merge_story_entities


@dataclass(frozen=True)
class Real:
    """One real entity of the synthetic story: its type, full name and other forms."""

    type: EntityType
    name: str
    short: str | None = None  # surname of a person, acronym of an organisation
    variant: str | None = None  # another transliteration of a person's full name


def _people() -> list[Real]:
    """People whose first names and surnames all sound different (distinct consonants), each
    with a transliteration variant that changes only vowels ('Bali Pored', 'Baly Pured')."""
    firsts = [f"{a}a{b}i" for a, b in product("BDFJ", "lmnr")]
    lasts = [f"{a}o{b}e{c}" for a, b, c in product("PTV", "rsx", "dnz")]
    return [
        Real("PERSON", f"{first} {last}", last, f"{first[:-1]}y {last[0]}u{last[2:]}")
        for first, last in zip(firsts, lasts[: len(firsts)], strict=True)
    ]


def _organisations() -> list[Real]:
    """Organisations with three-word names and distinct initials, known by their acronym too."""
    names = [f"{a}elmar {b}ostin Assembly" for a, b in zip("BDFJLMNPRS", "TVXZBDFJLM", strict=True)]
    return [Real("ORG", name, "".join(w[0] for w in name.split())) for name in names]


def _places() -> list[Real]:
    """Single-word places that sound like no surname (their first letters differ)."""
    return [Real("LOC", f"{a}u{b}ara") for a, b in product("LMNZ", "dfjlmnpr")][:30]


@dataclass
class Seen:
    """How a synthetic story names one real entity: forms used, mentions and articles."""

    forms: set[str] = field(default_factory=set)
    mentions: int = 0
    articles: int = 0


REALS = _people() + _organisations() + _places()


def _mention(real: Real, rng: random.Random, first_pass: bool) -> tuple[str, EntityType]:
    """How one article names ``real``: its full name (in the first articles), else its full
    name, its variant or its short form alone; a surname alone is sometimes mistyped as an
    organisation, as a raw tagger does. No article pairs two forms, so only the story merge's
    rules (initials, transliteration, surname) can link them."""
    choice = "full" if first_pass else rng.choice(["full", "variant", "short"])
    if choice == "variant" and real.variant is not None:
        return real.variant, real.type
    if choice == "short" and real.short is not None:
        mistyped = real.type == "PERSON" and rng.random() < 0.2
        return real.short, "ORG" if mistyped else real.type
    return real.name, real.type


def synthetic_story(
    members: int, per_member: int, seed: int = 0
) -> tuple[list[list[Entity]], dict[Real, Seen]]:
    """Entities of ``members`` articles, and per real entity how the story names it.

    The first articles name every entity in full, so each short form has its full name
    somewhere in the story; saliences of each article sum to one.
    """
    rng = random.Random(seed)
    story: list[list[Entity]] = []
    truth: dict[Real, Seen] = {}
    for member in range(members):
        start = member * per_member
        if start < len(REALS):
            chosen = REALS[start : start + per_member]
        else:
            chosen = rng.sample(REALS, per_member)
        weights = [rng.randint(1, 5) for _ in chosen]
        entities = []
        for real, weight in zip(chosen, weights, strict=True):
            name, entity_type = _mention(real, rng, first_pass=start < len(REALS))
            entities.append(
                Entity(
                    id=entity_id(entity_type, name),
                    name=name,
                    type=entity_type,
                    surface_forms=[name],
                    mentions=weight,
                    salience=weight / sum(weights),
                )
            )
            seen = truth.setdefault(real, Seen())
            seen.mentions += weight
            seen.articles += 1
            seen.forms.add(name)
        story.append(entities)
    return story, truth


def holding(story: list[StoryEntity], form: str) -> list[StoryEntity]:
    return [e for e in story if form == e.name or form in e.surface_forms]


def assert_merged_as_truth(story: list[StoryEntity], truth: dict[Real, Seen]) -> None:
    """One story entity per real entity, holding all its forms, named by a full form, with
    its type and counts."""
    assert len(story) == len(truth)
    for real, seen in truth.items():
        (found,) = holding(story, next(iter(seen.forms)))
        assert found.name in {real.name, real.variant}
        assert found.type == real.type
        assert found.id == entity_id(real.type, found.name)
        assert seen.forms <= {found.name, *found.surface_forms}
        for form in seen.forms:
            assert holding(story, form) == [found]
        assert (found.count, found.articles) == (seen.mentions, seen.articles)
    assert sum(e.salience for e in story) == pytest.approx(1.0, abs=1e-3)


def test_large_story_merges_every_variant_into_its_entity() -> None:
    story, truth = synthetic_story(members=200, per_member=30)
    assert len(truth) == len(REALS)
    assert_merged_as_truth(merge_story_entities(story), truth)


def test_small_story_merges_every_variant_into_its_entity() -> None:
    story, truth = synthetic_story(members=5, per_member=20, seed=3)
    assert_merged_as_truth(merge_story_entities(story), truth)


def summary(story: list[StoryEntity]) -> set[tuple[object, ...]]:
    """What must not depend on the order of the articles: which forms are merged, with what
    type and counts. The order of forms may, and so may the name when two full forms tie
    (the first seen wins)."""
    return {(e.type, frozenset(e.surface_forms), e.count, e.articles, e.salience) for e in story}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merge_does_not_depend_on_the_order_of_articles(seed: int) -> None:
    story, truth = synthetic_story(members=12, per_member=25, seed=seed)
    expected = summary(merge_story_entities(story))
    shuffled = list(story)
    random.Random(seed).shuffle(shuffled)
    assert summary(merge_story_entities(shuffled)) == expected
    assert summary(merge_story_entities(reversed(story))) == expected
    assert summary(merge_story_entities(iter(story))) == expected
    assert len(expected) == len(truth)


def test_merge_does_not_depend_on_the_order_of_entities_in_an_article() -> None:
    story, _ = synthetic_story(members=8, per_member=25, seed=5)
    reordered = [list(reversed(entities)) for entities in story]
    assert summary(merge_story_entities(reordered)) == summary(merge_story_entities(story))


def test_repeated_calls_give_the_same_result() -> None:
    story, _ = synthetic_story(members=20, per_member=30, seed=4)
    first = merge_story_entities(story)
    assert merge_story_entities(story) == first
    assert merge_story_entities(story[:10]) != first
    assert merge_story_entities(story) == first


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merging_article_by_article_gives_the_merge_of_the_articles_so_far(seed: int) -> None:
    """Asking for the entities after each article (as a story does on every change) leaves
    the running merge as it was: it then equals merging the articles so far in one go."""
    story, _ = synthetic_story(members=40, per_member=12, seed=seed)
    random.Random(seed).shuffle(story)
    merge = StoryEntityMerge()
    for count, entities in enumerate(story, 1):
        merge.add(entities)
        assert merge.entities() == merge_story_entities(story[:count])
    assert_merged_as_truth(
        merge.entities(), synthetic_story(members=40, per_member=12, seed=seed)[1]
    )
