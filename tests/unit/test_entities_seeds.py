"""The seeds' entities, canonicalised across the story (seeds/EXPECTED.md), from the raw text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.records import CleanArticle, EntityType, StoryEntity
from streams.tag.entities import DEFAULT_MODEL, load_tagger, merge_story_entities
from streams.text import fingerprint
from tests.conftest import SEEDS

# seeds/EXPECTED.md: name, type and the surface forms that must be merged into it.
EXPECTED: list[tuple[str, EntityType, set[str]]] = [
    ("Khalifa Haftar", "PERSON", {"Haftar"}),
    ("Salem Alaywan", "PERSON", {"Alaywan"}),
    ("Ahmed Mismari", "PERSON", {"Ahmed al-Mesmari", "Al-Mesmari"}),
    ("Mohammed Gununu", "PERSON", {"Muhammad Qanunu", "Qanunu"}),
    ("Jalel Harchaoui", "PERSON", set()),
    ("Vladimir Putin", "PERSON", set()),
    ("Seth J. Frantzmann", "PERSON", set()),
    ("Emad Badi", "PERSON", set()),
    ("Libyan National Army", "ORG", {"LNA", "Libya National Army"}),
    ("Government of National Accord", "ORG", {"GNA"}),
    ("Wagner Group", "ORG", {"Wagner", "Wagner Company"}),
    ("Reuters", "ORG", set()),
    ("Bloomberg", "ORG", set()),
    ("Clingendael Institute", "ORG", set()),
    ("United Nations", "ORG", {"UN", "U.N."}),
    ("Al Jazeera", "ORG", set()),
    ("Libya", "LOC", set()),
    ("Tripoli", "LOC", set()),
    ("Bani Walid", "LOC", set()),
    ("Jufra", "LOC", set()),
    ("Tarhouna", "LOC", set()),
    ("al-Watiya airbase", "LOC", {"Watiya"}),
    ("Turkey", "LOC", set()),
    ("Russia", "LOC", set()),
    ("Egypt", "LOC", set()),
    ("United Arab Emirates", "LOC", set()),
]


def seed_article(path: Path) -> CleanArticle:
    """A seed as it arrives (no cleaning); the first line is its title unless it is metadata."""
    text = path.read_text(encoding="utf-8")
    first_line = text.strip().splitlines()[0].strip()
    title = None if re.match(r"date \d{4}-\d{2}-\d{2}", first_line) else first_line
    return CleanArticle(
        id=path.stem,
        text=text,
        title=title,
        fetched_at=datetime.now(UTC),
        fingerprint=fingerprint(text),
    )


@pytest.fixture(scope="module")
def story() -> list[StoryEntity]:
    articles = [seed_article(p) for p in sorted(SEEDS.glob("*.txt"))]
    assert len(articles) == 5
    return merge_story_entities(load_tagger(DEFAULT_MODEL).tag(articles))


def holding(story: list[StoryEntity], form: str) -> list[StoryEntity]:
    return [e for e in story if form == e.name or form in e.surface_forms]


def entity_problems(
    story: list[StoryEntity], name: str, entity_type: EntityType, forms: set[str]
) -> list[str]:
    """How ``story`` fails seeds/EXPECTED.md for one entity (nothing when it holds)."""
    matches = holding(story, name)
    if len(matches) != 1:
        return [f"{name}: {len(matches)} entities hold it: {[m.name for m in matches]}"]
    (found,) = matches
    problems = [] if found.type == entity_type else [f"{name}: typed {found.type}"]
    problems += [
        f"{name}: {form} is elsewhere" for form in forms if holding(story, form) != [found]
    ]
    if not (found.count >= 1 + len(forms) and 1 <= found.articles <= 5):
        problems.append(f"{name}: counts {found.count} mentions, {found.articles} articles")
    return problems


def mistake_problems(story: list[StoryEntity]) -> list[str]:
    """The raw model's mistakes that seeds/EXPECTED.md rules out, found in ``story``."""
    mistakes = [
        *(f"Bani Walid as {e.type}" for e in holding(story, "Bani Walid") if e.type == "PERSON"),
        *(f"Haftar as {e.type}" for e in holding(story, "Haftar") if e.type == "ORG"),
        *(
            f"{f} as ORG"
            for f in ("Jufra", "Tarhouna")
            for e in holding(story, f)
            if e.type == "ORG"
        ),
        *(f"Bloomberg as {e.type}" for e in holding(story, "Bloomberg") if e.type == "LOC"),
    ]
    for e in story:
        for form in [e.name, *e.surface_forms]:
            if (
                "/" in form
                or "ILNITSKY" in form.upper()
                or "\n" in form
                or re.match(r"(?i)the\s", form)
                or re.search(r"['’]s\b", form)
            ):
                mistakes.append(f"bad name form {form!r}")
    return mistakes


def expected_story_problems(story: list[StoryEntity]) -> list[str]:
    """Everything in ``story`` that contradicts seeds/EXPECTED.md's entities."""
    found = [
        problem
        for name, entity_type, forms in EXPECTED
        for problem in entity_problems(story, name, entity_type, forms)
    ]
    return found + mistake_problems(story)


@pytest.mark.parametrize(("name", "entity_type", "forms"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_expected_entity_once_with_its_type_and_forms(
    story: list[StoryEntity], name: str, entity_type: EntityType, forms: set[str]
) -> None:
    assert entity_problems(story, name, entity_type, forms) == []


def test_no_typing_mistakes_credit_lines_determiners_or_possessives(
    story: list[StoryEntity],
) -> None:
    assert mistake_problems(story) == []


def test_ids_are_unique_and_salience_is_a_share(story: list[StoryEntity]) -> None:
    assert len({e.id for e in story}) == len(story)
    assert sum(e.salience for e in story) == pytest.approx(1.0, abs=1e-3)
