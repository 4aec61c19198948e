"""Partition assignment that evens out the workers' load.

faust assigns each group of co-partitioned topics on its own, and a group of one
partition always goes to the first worker it considers: every stage that reads a
single partition (dedup routing, stories) would run on the same worker, which
then carries several milliseconds per article more than the others. Here, after
faust's assignment, the single-partition stages are dealt to the workers in turn,
and the worker of the heaviest one (stories) hands its partitions of the light
partitioned stages (dedup shards and decisions, the story store) to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment
from faust.assignor.partition_assignor import ClientAssignmentMapping

StageTopics = Sequence[Collection[str]]


def deal_single_partition_stages(
    assignments: Mapping[str, ClientAssignment], stages: StageTopics
) -> None:
    """Give the i-th stage to the i-th worker (by member id), going round.

    A stage is the topics that must stay on one worker: its input topic and the
    changelogs of its tables. Each topic moves from the worker faust chose to the
    worker whose turn it is (:func:`_move_partition`), so every partition keeps
    exactly one active owner.
    """
    members = sorted(assignments)
    for turn, topics in enumerate(stages):
        chosen = assignments[members[turn % len(members)]]
        for topic in topics:
            owner = next((a for a in assignments.values() if a.actives.get(topic)), None)
            if owner is None or owner is chosen or topic not in chosen.actives:
                continue  # nobody reads it, already there, or the chosen worker does not
            for partition in list(owner.actives[topic]):
                _move_partition(topic, partition, owner, chosen)


def unload_heaviest_stage_worker(
    assignments: Mapping[str, ClientAssignment], heaviest: Collection[str], light: StageTopics
) -> None:
    """Move every partition of the ``light`` stages off the worker that runs the
    ``heaviest`` single-partition stage, each to the other worker holding the fewest
    partitions of that stage.

    A light stage is topics co-partitioned with each other (an input topic and the
    changelogs of its tables): partition p of all of them moves together. A worker
    that does not read a stage is not given it; with one worker nothing moves.
    """
    loaded = next(
        (a for a in assignments.values() if any(a.actives.get(t) for t in heaviest)), None
    )
    if loaded is None:
        return
    for topics in light:
        takers = [
            assignments[m]
            for m in sorted(assignments)
            if assignments[m] is not loaded and all(t in assignments[m].actives for t in topics)
        ]
        if not takers:
            continue
        held = sorted({p for topic in topics for p in loaded.actives.get(topic, [])})
        for partition in held:
            taker = min(takers, key=lambda a: sum(len(a.actives[t]) for t in topics))
            for topic in topics:
                _move_partition(topic, partition, loaded, taker)


def _move_partition(
    topic: str, partition: int, giver: ClientAssignment, taker: ClientAssignment
) -> None:
    """Make ``taker`` the active owner of the partition; if it was a standby of it,
    ``giver`` becomes that standby instead."""
    if partition in giver.actives.get(topic, []):
        giver.actives[topic].remove(partition)
    taker.actives.setdefault(topic, []).append(partition)
    if partition in taker.standbys.get(topic, []):
        taker.standbys[topic].remove(partition)
        giver.standbys.setdefault(topic, []).append(partition)


def stage_spreading_assignor(
    stages: Callable[[], StageTopics], light: Callable[[], StageTopics]
) -> type[PartitionAssignor]:
    """faust's partition assignor, dealing out the single-partition ``stages()``
    (heaviest first) and keeping the ``light()`` partitioned stages off the worker
    of the heaviest."""

    class StageSpreadingAssignor(PartitionAssignor):
        def _global_table_standby_assignments(
            self,
            assignments: ClientAssignmentMapping,
            partitions_by_topic: Mapping[str, int],
        ) -> ClientAssignmentMapping:
            single_partition = stages()
            deal_single_partition_stages(assignments, single_partition)
            if single_partition:
                unload_heaviest_stage_worker(assignments, single_partition[0], light())
            return super()._global_table_standby_assignments(assignments, partitions_by_topic)

    return StageSpreadingAssignor
