"""Sticky, balanced partition assignment for consumer groups.

Every member gets ``partitions // members`` partitions, some one more; a partition stays with
its current owner while that owner is in the group and within its share, so a member joining
or leaving moves as few partitions as possible (fewer redeliveries). The result depends only
on the inputs, so members of a group that compute it separately (as NATS workers do) agree.

>>> assign(4, ["a", "b"], {})
{'a': [0, 1], 'b': [2, 3]}
>>> assign(4, ["a", "c"], {0: "a", 1: "a", 2: "b", 3: "b"})  # b left: only its partitions move
{'a': [0, 1], 'c': [2, 3]}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["assign"]

M = TypeVar("M", bound=Hashable)


def assign(partitions: int, members: Sequence[M], current: dict[int, M]) -> dict[M, list[int]]:
    """Partitions per member; `current` maps partitions to their owners now."""
    if not members:
        return {}
    keep: dict[M, list[int]] = {m: [] for m in members}
    for p in range(partitions):
        owner = current.get(p)
        if owner in keep:
            keep[owner].append(p)
    base, extra = divmod(partitions, len(members))
    # Members that already hold the most get the larger shares: fewer moves.
    by_holding = sorted(members, key=lambda m: -len(keep[m]))
    share = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_holding)}
    taken: set[int] = set()
    for m in members:
        keep[m] = keep[m][:share[m]]
        taken.update(keep[m])
    free = iter(p for p in range(partitions) if p not in taken)
    for m in members:
        while len(keep[m]) < share[m]:
            keep[m].append(next(free))
        keep[m].sort()
    return keep
