"""A topic's partitions in the embedded broker: per partition, a list of the kept events (the
first has offset ``base``: retention deletes from the front), their append times, and the
key-to-partition routes; and `offset_of`, the offset a seek position names in one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from edalab.brokers.base import Position
from edalab.brokers.partitioning import key_hash
from edalab.events import Event

if TYPE_CHECKING:
    from edalab.brokers.memory.group import Group

_ROUTE_CACHE = 1 << 16


class TopicLog:
    """Per partition, the kept events and their append times, and the offset of the first."""

    __slots__ = ("name", "logs", "stamps", "base", "trim_at", "groups", "routes",
                 "next_unkeyed")

    def __init__(self, name: str, partitions: int, trim_at: int):
        self.name = name
        self.logs: list[list[Event]] = [[] for _ in range(partitions)]
        self.stamps: list[list[float]] = [[] for _ in range(partitions)]
        self.base: list[int] = [0] * partitions  # offset of logs[p][0]
        self.trim_at: list[int] = [trim_at] * partitions  # log length that triggers retention
        self.groups: list[Group] = []
        self.routes: dict[str | None, int] = {}  # key -> partition, so the hot path skips hashing
        self.next_unkeyed = 0

    def end(self, p: int) -> int:
        """The offset the next record appended to partition `p` gets."""
        return self.base[p] + len(self.logs[p])

    def route(self, key: str | None) -> int:
        n = len(self.logs)
        if key is None:
            p = self.next_unkeyed
            self.next_unkeyed = (p + 1) % n
            return p
        if len(self.routes) >= _ROUTE_CACHE:
            self.routes.clear()
        p = self.routes[key] = key_hash(key) % n
        return p


def offset_of(log: list[Event], position: Position, base: int) -> int:
    """The offset `position` names in a partition whose kept records start at `base`."""
    end = base + len(log)
    if position == "beginning":
        return base
    if position == "end":
        return end
    if isinstance(position, datetime):
        if position.utcoffset() is None:
            raise ValueError("seek time must be timezone-aware")
        for index, event in enumerate(log):
            if event.time >= position:
                return base + index
        return end
    if isinstance(position, int) and not isinstance(position, bool):
        if not 0 <= position <= end:
            raise ValueError(f"offset {position} is outside the log [0, {end}]")
        return max(base, position)
    raise TypeError("seek position must be 'beginning', 'end', an offset or a datetime, "
                    f"got {position!r}")
