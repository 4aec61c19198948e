"""Entity tagging: span repair, canonicalisation, type evidence, story merging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.records import CleanArticle, Entity, EntityType
from streams.tag.entities import (
    DEFAULT_MODEL,
    EntityTagger,
    SpacyTagger,
    entity_id,
    initials,
    is_acronym,
    load_tagger,
    merge_story_entities,
    name_key,
    phonetic_key,
)
from streams.text import fingerprint


def article(text: str, title: str | None = None, article_id: str = "a") -> CleanArticle:
    return CleanArticle(
        id=article_id,
        text=text,
        title=title,
        fetched_at=datetime.now(UTC),
        fingerprint=fingerprint(text),
    )


def entity(
    name: str, entity_type: EntityType, forms: list[str], mentions: int = 1, salience: float = 0.1
) -> Entity:
    return Entity(
        id=entity_id(entity_type, name),
        name=name,
        type=entity_type,
        surface_forms=forms,
        mentions=mentions,
        salience=salience,
    )


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return load_tagger(DEFAULT_MODEL)


def tag_one(tagger: EntityTagger, text: str) -> list[Entity]:
    (entities,) = tagger.tag([article(text)])
    return entities


# --- keys (no model) -----------------------------------------------------------------------------
def test_name_key_ignores_determiner_possessive_dots_particles_and_designators() -> None:
    assert name_key("the Wagner Group") == name_key("Wagner") == "wagner"
    assert name_key("U.N.") == name_key("UN")
    assert name_key("Khalifa Haftar’s") == name_key("khalifa haftar")
    assert name_key("al-Watiya airbase") == name_key("Watiya")


def test_phonetic_key_merges_transliterations_but_not_different_names() -> None:
    assert phonetic_key("Gununu") == phonetic_key("Qanunu")
    assert phonetic_key("Mismari") == phonetic_key("Mesmari")
    assert phonetic_key("Mohammed") == phonetic_key("Muhammad")
    assert phonetic_key("Haftar") != phonetic_key("Harchaoui")


def test_acronyms_and_initials() -> None:
    assert is_acronym("LNA") and is_acronym("U.N.")
    assert not is_acronym("Libya")
    assert initials("Government of National Accord") == "GNA"
    assert initials("Libya National Army") == "LNA"


def test_entity_id_is_stable_for_variants_of_one_name() -> None:
    assert entity_id("ORG", "Wagner Group") == entity_id("ORG", "the Wagner group")
    assert entity_id("ORG", "Reuters") != entity_id("LOC", "Reuters")


# --- story merging (no model) --------------------------------------------------------------------
def test_story_merge_counts_mentions_and_articles_and_keeps_fullest_name() -> None:
    story = merge_story_entities(
        [
            [entity("Khalifa Haftar", "PERSON", ["Khalifa Haftar", "Haftar"], mentions=3)],
            [entity("Haftar", "PERSON", ["Haftar"], mentions=2)],
            [entity("Haftar", "ORG", ["Haftar"], mentions=1)],
        ]
    )
    assert len(story) == 1
    (haftar,) = story
    assert haftar.name == "Khalifa Haftar"
    assert haftar.type == "PERSON"
    assert haftar.count == 6
    assert haftar.articles == 3
    assert set(haftar.surface_forms) == {"Khalifa Haftar", "Haftar"}


def test_story_merge_links_acronym_and_expansion_variants() -> None:
    story = merge_story_entities(
        [
            [entity("LNA", "ORG", ["LNA"], mentions=4)],
            [entity("Libya National Army", "ORG", ["Libya National Army", "LNA"])],
            [entity("Libyan National Army", "ORG", ["Libyan National Army"], mentions=2)],
        ]
    )
    assert [e.name for e in story] == ["Libyan National Army"]
    assert set(story[0].surface_forms) == {"LNA", "Libya National Army", "Libyan National Army"}


def test_story_merge_links_transliterations_of_a_person() -> None:
    story = merge_story_entities(
        [
            [entity("Ahmed Mismari", "PERSON", ["Ahmed Mismari"], mentions=2)],
            [entity("Ahmed al-Mesmari", "PERSON", ["Ahmed al-Mesmari", "Al-Mesmari"])],
            [entity("Mohammed Gununu", "PERSON", ["Mohammed Gununu"])],
            [entity("Muhammad Qanunu", "PERSON", ["Muhammad Qanunu", "Qanunu"])],
        ]
    )
    assert len(story) == 2
    forms = sorted(sorted(e.surface_forms) for e in story)
    assert forms == [
        ["Ahmed Mismari", "Ahmed al-Mesmari", "Al-Mesmari"],
        ["Mohammed Gununu", "Muhammad Qanunu", "Qanunu"],
    ]


def test_story_merge_keeps_different_people_with_one_surname_apart() -> None:
    story = merge_story_entities(
        [
            [entity("Hillary Clinton", "PERSON", ["Hillary Clinton"])],
            [entity("Bill Clinton", "PERSON", ["Bill Clinton"])],
            [entity("Clinton", "PERSON", ["Clinton"])],
        ]
    )
    assert sorted(e.name for e in story) == ["Bill Clinton", "Clinton", "Hillary Clinton"]


def test_story_type_is_voted_by_mentions() -> None:
    story = merge_story_entities(
        [
            [entity("Jufra", "LOC", ["Jufra"], mentions=3)],
            [entity("Jufra", "ORG", ["Jufra"], mentions=1)],
        ]
    )
    assert [(e.name, e.type, e.count, e.articles) for e in story] == [("Jufra", "LOC", 4, 2)]
    assert story[0].id == entity_id("LOC", "Jufra")


# --- the tagger on invented text -----------------------------------------------------------------
def test_load_tagger_keeps_only_what_ner_needs(tagger: EntityTagger) -> None:
    assert isinstance(tagger, SpacyTagger)
    assert "ner" in tagger.nlp.pipe_names
    assert not {"parser", "lemmatizer", "tagger", "attribute_ruler", "senter"} & set(
        tagger.nlp.pipe_names
    )


def test_no_determiner_possessive_or_credit_in_names(tagger: EntityTagger) -> None:
    entities = tag_one(
        tagger,
        "EPA/JOHN DOE\n\nThe United Nations’s envoy arrived in Cairo. "
        "He met the Arab League's chief.",
    )
    names = {e.name for e in entities} | {f for e in entities for f in e.surface_forms}
    assert "United Nations" in names
    for name in names:
        assert not name.lower().startswith("the ")
        assert not name.endswith(("’s", "'s"))
        assert "/" not in name and "EPA" not in name and "DOE" not in name


def test_no_entity_spans_a_line_break(tagger: EntityTagger) -> None:
    text = "Officials met in Geneva\n\nJohn Smith said the talks went well.\nPeter Brown agreed."
    (mentions,) = tagger.mentions([article(text)])  # type: ignore[attr-defined]
    assert mentions
    for mention in mentions:
        assert "\n" not in text[mention.start : mention.end]
        assert text[mention.start : mention.end] == mention.text


def test_surname_is_folded_into_full_name(tagger: EntityTagger) -> None:
    entities = tag_one(
        tagger,
        "Maria Gonzalez, the mayor of Springfield, spoke on Tuesday. "
        "Gonzalez said the budget was balanced.",
    )
    people = [e for e in entities if e.type == "PERSON"]
    assert len(people) == 1
    assert people[0].name == "Maria Gonzalez"
    assert set(people[0].surface_forms) == {"Maria Gonzalez", "Gonzalez"}
    assert people[0].mentions == 2


def test_acronym_in_parentheses_joins_its_expansion(tagger: EntityTagger) -> None:
    entities = tag_one(
        tagger,
        "The National Liberation Front (NLF) said on Monday that its "
        "fighters had left. NLF commanders denied it.",
    )
    front = [e for e in entities if "NLF" in e.surface_forms]
    assert len(front) == 1
    assert front[0].name == "National Liberation Front"
    assert front[0].type == "ORG"
    assert front[0].mentions == 3


def test_transliterations_in_one_article_are_one_person(tagger: EntityTagger) -> None:
    entities = tag_one(
        tagger,
        "Omar al-Qadiri, the group spokesman, said talks had failed. "
        "Umar Kadiri later said they would resume.",
    )
    people = [e for e in entities if e.type == "PERSON"]
    assert len(people) == 1
    assert set(people[0].surface_forms) == {"Omar al-Qadiri", "Umar Kadiri"}


def test_place_context_decides_the_type(tagger: EntityTagger) -> None:
    entities = tag_one(
        tagger,
        "Talks were held in the town of Karimabad. Karimabad, a town some "
        "50 km north of the capital, was quiet. Karimabad’s mayor agreed.",
    )
    assert [(e.name, e.type) for e in entities if "Karimabad" in e.name] == [("Karimabad", "LOC")]


def test_salience_favours_title_and_sums_to_one(tagger: EntityTagger) -> None:
    (entities,) = tagger.tag(
        [
            article(
                "Officials in Paris and Berlin met on Monday.\n\nThey spoke of Berlin again later.",
                title="Talks in Paris",
            )
        ]
    )
    by_name = {e.name: e for e in entities}
    assert by_name["Paris"].salience > by_name["Berlin"].salience
    assert sum(e.salience for e in entities) == pytest.approx(1.0, abs=1e-4)
