"""The single-partition stages are dealt to the workers in turn (pure logic)."""

from __future__ import annotations

from faust.assignor.client_assignment import ClientAssignment

from agents.runtime.assignor import deal_single_partition_stages, unload_heaviest_stage_worker

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
    return {
        topic: [m for m, a in assignments.items() if 0 in getattr(a, side)[topic]] for topic in ALL
    }


def test_two_workers_get_one_single_partition_stage_each() -> None:
    assignments = _faust_choice(["worker-b", "worker-a"])
    deal_single_partition_stages(assignments, [STORY, ROUTE])
    assert _owners(assignments, "actives") == {
        "articles.deduped": ["worker-a"],
        "story-state-changelog": ["worker-a"],
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


SHARDS = ("dedup.probes", "dedup-shard-articles-changelog")
STORE = ("stories",)


def _faust_choice_partitioned(members: list[str], partitions: int) -> dict[str, ClientAssignment]:
    """What faust does with co-partitioned topics: partition p of every topic on
    member p (round), its standby on the next member; the story stage on the first."""
    assignments = {m: ClientAssignment(actives={}, standbys={}) for m in members}
    for topic in (*SHARDS, *STORE):
        for member in members:
            assignments[member].actives[topic] = []
            assignments[member].standbys[topic] = []
        for partition in range(partitions):
            assignments[members[partition % len(members)]].actives[topic].append(partition)
            if len(members) > 1:
                standby = members[(partition + 1) % len(members)]
                assignments[standby].standbys[topic].append(partition)
    for number, member in enumerate(members):
        for topic in STORY:
            assignments[member].actives[topic] = [0] if number == 0 else []
            assignments[member].standbys[topic] = []
    return assignments


def _partitions(
    assignments: dict[str, ClientAssignment],
    side: str,
    topic: str,
) -> dict[str, list[int]]:
    return {
        m: sorted(getattr(a, side)[topic])
        for m, a in assignments.items()
        if topic in getattr(a, side)
    }


def test_the_story_worker_hands_its_light_stages_to_the_other_worker() -> None:
    assignments = _faust_choice_partitioned(["story", "other"], partitions=2)
    unload_heaviest_stage_worker(assignments, STORY, [SHARDS, STORE])
    for topic in (*SHARDS, *STORE):
        assert _partitions(assignments, "actives", topic) == {"story": [], "other": [0, 1]}
        # The taker was the standby of partition 0: the giver is now.
        assert _partitions(assignments, "standbys", topic) == {"story": [0, 1], "other": []}
    assert assignments["story"].actives["articles.deduped"] == [0]


def test_with_more_workers_the_light_stages_go_to_the_least_loaded() -> None:
    assignments = _faust_choice_partitioned(["story", "b", "c"], partitions=4)
    unload_heaviest_stage_worker(assignments, STORY, [SHARDS, STORE])
    for topic in (*SHARDS, *STORE):
        actives = _partitions(assignments, "actives", topic)
        assert actives["story"] == []
        assert sorted(p for held in actives.values() for p in held) == [0, 1, 2, 3]
        assert sorted(len(held) for held in actives.values()) == [0, 2, 2]
        standbys = _partitions(assignments, "standbys", topic)
        assert all(not set(standbys[m]) & set(actives[m]) for m in assignments)
    # A stage's topics move together: the shard changelog stays with its input.
    assert _partitions(assignments, "actives", SHARDS[0]) == _partitions(
        assignments, "actives", SHARDS[1]
    )


def test_one_worker_keeps_its_light_stages() -> None:
    assignments = _faust_choice_partitioned(["only"], partitions=2)
    unload_heaviest_stage_worker(assignments, STORY, [SHARDS, STORE])
    assert _partitions(assignments, "actives", "stories") == {"only": [0, 1]}


def test_light_stages_go_only_to_workers_that_read_them() -> None:
    assignments = _faust_choice_partitioned(["story", "new", "old"], partitions=2)
    for topic in STORE:  # "old" runs a version without the story store
        assert not assignments["old"].actives[topic]
        del assignments["old"].actives[topic], assignments["old"].standbys[topic]
    unload_heaviest_stage_worker(assignments, STORY, [STORE])
    assert _partitions(assignments, "actives", "stories") == {"story": [], "new": [0, 1]}
