"""The single-partition stages are dealt to the workers in turn (pure logic)."""

from __future__ import annotations

from faust.assignor.client_assignment import ClientAssignment

from agents.assignor import deal_single_partition_stages

STORY = ("articles.deduped", "story-state-changelog")
ROUTE = ("articles.tagged",)
ALL = (*STORY, *ROUTE)


def _faust_choice(members: list[str]) -> dict[str, ClientAssignment]:
    """What faust does: every one-partition topic active on the first member,
    its standby on the second."""
    assignments = {m: ClientAssignment(actives={}, standbys={}) for m in members}
    for topic in ALL:
        for number, member in enumerate(members):
            assignments[member].actives[topic] = [0] if number == 0 else []
            assignments[member].standbys[topic] = [0] if number == 1 else []
    return assignments


def _owners(assignments: dict[str, ClientAssignment], side: str) -> dict[str, list[str]]:
    return {topic: [m for m, a in assignments.items() if 0 in getattr(a, side)[topic]]
            for topic in ALL}


def test_two_workers_get_one_single_partition_stage_each() -> None:
    assignments = _faust_choice(["worker-b", "worker-a"])
    deal_single_partition_stages(assignments, [STORY, ROUTE])
    assert _owners(assignments, "actives") == {
        "articles.deduped": ["worker-a"], "story-state-changelog": ["worker-a"],
        "articles.tagged": ["worker-b"],
    }
    # The standby of a moved topic went to the worker that gave up the active.
    assert _owners(assignments, "standbys")["articles.deduped"] == ["worker-b"]


def test_a_stage_stays_together_and_every_partition_keeps_one_owner() -> None:
    assignments = _faust_choice(["w1", "w2", "w3"])
    deal_single_partition_stages(assignments, [ROUTE, STORY])
    actives = _owners(assignments, "actives")
    assert actives["articles.tagged"] == ["w1"]
    assert actives["articles.deduped"] == actives["story-state-changelog"] == ["w2"]
    for topic in ALL:
        assert not set(_owners(assignments, "standbys")[topic]) & set(actives[topic])


def test_one_worker_keeps_everything() -> None:
    assignments = _faust_choice(["only"])
    deal_single_partition_stages(assignments, [STORY, ROUTE])
    assert _owners(assignments, "actives") == {topic: ["only"] for topic in ALL}


def test_a_worker_that_does_not_read_a_stage_is_not_given_it() -> None:
    assignments = _faust_choice(["worker-b", "worker-a"])
    for topic in STORY:  # worker-a runs an older version without the story stage
        del assignments["worker-a"].actives[topic], assignments["worker-a"].standbys[topic]
    deal_single_partition_stages(assignments, [STORY, ROUTE])
    assert assignments["worker-b"].actives["articles.deduped"] == [0]
    assert "articles.deduped" not in assignments["worker-a"].actives
