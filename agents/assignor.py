"""Partition assignment that spreads the single-partition stages over the workers.

faust assigns each group of co-partitioned topics on its own, and a group of one
partition always goes to the first worker it considers: every stage that reads a
single partition (dedup routing, stories) would run on the same worker, which
then carries several milliseconds per article more than the others. Here, after
faust's assignment, the single-partition stages are dealt to the workers in turn.
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
    changelogs of its tables. Each topic moves by swapping its active and standby
    partitions between the worker faust chose and the worker whose turn it is, so
    every partition keeps exactly one active owner.
    """
    members = sorted(assignments)
    for turn, topics in enumerate(stages):
        chosen = assignments[members[turn % len(members)]]
        for topic in topics:
            owner = next(
                (a for a in assignments.values() if a.actives.get(topic)), None
            )
            if owner is None or owner is chosen or topic not in chosen.actives:
                continue  # nobody reads it, already there, or the chosen worker does not
            for side in ("actives", "standbys"):
                theirs, ours = getattr(owner, side), getattr(chosen, side)
                theirs[topic], ours[topic] = ours.get(topic, []), theirs.get(topic, [])


def stage_spreading_assignor(
    stages: Callable[[], StageTopics],
) -> type[PartitionAssignor]:
    """faust's partition assignor, dealing out the single-partition ``stages()``."""

    class StageSpreadingAssignor(PartitionAssignor):
        def _global_table_standby_assignments(
            self,
            assignments: ClientAssignmentMapping,
            partitions_by_topic: Mapping[str, int],
        ) -> ClientAssignmentMapping:
            deal_single_partition_stages(assignments, stages())
            return super()._global_table_standby_assignments(assignments, partitions_by_topic)

    return StageSpreadingAssignor
