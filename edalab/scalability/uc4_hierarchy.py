"""UC4, hierarchical aggregation: the power of every sensor group, at every level.

The groups are a registry of nested groups (`sensor_registry`), and the registry is itself a
stream: each ``sensor.registry`` event on ``configuration`` replaces the whole tree from its
event time on, so groups can be added, removed or rearranged while the app runs. Three
handlers, as in Theodolite's dataflow::

    configuration ──▶ registry (every instance reads all of it)   child -> parents, per time
    input ──▶ route ──▶ uc4-children (keyed by parent group)
    uc4-children ──▶ aggregate ──▶ output (one result per group and window)
                               └─▶ input  (the result fed back, as a reading of the group)

A group's value in a window ``[start, end)`` (5 s) is the sum of the last value of each
child in that window, a sensor's reading or a child group's fed-back result; a window closes
5 s of event time after its end (the grace period). A fed-back result is stamped with its
window's end, so it counts in its parent's next window: a group `n` levels above the sensors
reports their window of ``n - 1`` windows earlier, as in Theodolite.

>>> from edalab.streams import power_sensors, sensor_events, sensor_registry
>>> app = uc4_hierarchy()
>>> df = power_sensors(sensors=4, duration=20, seed=1)
>>> app.source("configuration", [registry_event(sensor_registry(sensors=4, fanout=2, depth=2),
...                                             df["timestamp"].iloc[0])])
>>> app.source("input", list(sensor_events(df)))
>>> _ = app.run(batch_size=4)
>>> results = sorted((r.event.data["start"], r.event.data["identifier"], r.event.data["count"])
...                  for r in app.broker.read("output"))
>>> [(group, count) for _, group, count in results[:5]]  # root: from the second window on
[('g_1_0', 2), ('g_1_1', 2), ('g_1_0', 2), ('g_1_1', 2), ('root', 4)]
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from numbers import Integral
from typing import Any

import pandas as pd

from edalab.brokers.base import Broker
from edalab.events import Event
from edalab.ml.windows.base import duration_micros
from edalab.operators.base import Operator
from edalab.runtime.app import App
from edalab.streams.power_sensors import SensorGroup

__all__ = ["HierarchyWindow", "Registry", "registry_event", "uc4_hierarchy"]

REGISTRY_TYPE = "sensor.registry"
CHILD_TYPE = "power.child"
RESULT_TYPE = "power.aggregated"
FEEDBACK_TYPE = "power.aggregate"
CHILDREN_TOPIC = "uc4-children"


def _tree(group: SensorGroup) -> dict[str, Any]:
    return {"identifier": group.identifier, "name": group.name,
            "children": [_tree(c) if isinstance(c, SensorGroup) else c for c in group.children]}


def registry_event(root: SensorGroup, time: int | datetime | pd.Timestamp) -> Event:
    """The registry `root` as a ``sensor.registry`` event, in force from `time` (epoch ms or
    a datetime)."""
    if isinstance(time, Integral):
        when = datetime.fromtimestamp(int(time) / 1000, UTC)
    else:
        stamp = pd.Timestamp(time)
        when = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    return Event(REGISTRY_TYPE, "/edalab/registry", _tree(root), key="registry", time=when,
                 id=f"registry@{when.isoformat()}")


def parents_of(tree: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Child id -> the ids of the groups it belongs to, from a registry event's data.

    >>> parents_of({"identifier": "root", "children": [{"identifier": "g", "children": ["s_0"]},
    ...                                                 "s_1"]})
    {'g': ('root',), 's_0': ('g',), 's_1': ('root',)}
    """
    out: dict[str, list[str]] = {}
    stack = [tree]
    while stack:
        group = stack.pop()
        for child in group["children"]:
            name = child if isinstance(child, str) else child["identifier"]
            out.setdefault(name, []).append(group["identifier"])
            if not isinstance(child, str):
                stack.append(child)
    return {k: tuple(v) for k, v in sorted(out.items())}


class Registry:
    """The registry's versions by event time: which groups a child belongs to at a time."""

    def __init__(self) -> None:
        self._times: list[datetime] = []
        self._maps: list[dict[str, tuple[str, ...]]] = []

    def __len__(self) -> int:
        return len(self._times)

    def apply(self, event: Event) -> None:
        """Put a ``sensor.registry`` event's tree in force from its time on."""
        if event.type != REGISTRY_TYPE or not isinstance(event.data, dict):
            raise ValueError(f"event {event.id!r} is not a {REGISTRY_TYPE!r} event with a tree")
        i = bisect.bisect_right(self._times, event.time)
        self._times.insert(i, event.time)
        self._maps.insert(i, parents_of(event.data))

    def parents(self, child: str, time: datetime) -> tuple[str, ...]:
        """The groups `child` belongs to at `time` (none before the first registry)."""
        i = bisect.bisect_right(self._times, time) - 1
        return self._maps[i].get(child, ()) if i >= 0 else ()


_CHILD_FIELDS = ("group", "child", "valueInW", "count", "timestamp")


class HierarchyWindow(Operator):
    """Tumbling event-time windows per group of the last value of each child, summed.

    Input: ``power.child`` events keyed by group (data ``group``, ``child``, ``valueInW``,
    ``count``: the sensors behind the value). A window closes when the largest event time
    seen reaches its end plus `grace`; it emits a ``power.aggregated`` result (to the output)
    and a ``power.aggregate`` reading of the group stamped at the window's end (fed back).
    A child value for a window already closed is late: counted, and emitted as
    ``window.late``.
    """

    def __init__(self, window: str | float = "5s", grace: str | float = "5s"):
        self.size = duration_micros(window, "window") // 1000
        self.grace = duration_micros(grace, "grace", positive=False) // 1000
        self._open: dict[tuple[str, int], dict[str, tuple[int, float, int]]] = {}
        self._heap: list[tuple[int, int, str, int]] = []
        self._seq = itertools.count().__next__
        self._max = -1
        self._late = 0
        self._closed = 0
        self.__name__ = "aggregate"

    def __repr__(self) -> str:
        return f"HierarchyWindow(window={self.size} ms, grace={self.grace} ms)"

    def process(self, event: Event) -> list[Event]:
        d = event.data
        if not isinstance(d, dict) or any(d.get(f) is None for f in _CHILD_FIELDS):
            raise ValueError(f"HierarchyWindow: event {event.id!r} needs data with "
                             f"{', '.join(_CHILD_FIELDS)}")
        ts = d["timestamp"]
        start = ts - ts % self.size
        if start + self.size + self.grace <= self._max:
            self._late += 1
            return [Event("window.late", "/edalab/uc4", d, key=event.key, time=event.time,
                          id=f"late-{event.id}")]
        window = self._open.get((d["group"], start))
        if window is None:
            window = self._open[(d["group"], start)] = {}
            heapq.heappush(self._heap, (start + self.size + self.grace, self._seq(),
                                        d["group"], start))
        last = window.get(d["child"])
        if last is None or ts >= last[0]:
            window[d["child"]] = (ts, d["valueInW"], d["count"])
        if ts > self._max:
            self._max = ts
            if self._heap[0][0] <= ts:
                return self._close(ts)
        return []

    def flush(self, now: datetime | None = None) -> list[Event]:
        """Close every open window (the end of the stream)."""
        return self._close(float("inf"))

    @property
    def stats(self) -> dict[str, int]:
        return {"late": self._late, "closed": self._closed, "open": len(self._open)}

    def _close(self, until: float) -> list[Event]:
        out: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= until:
            _, _, group, start = heapq.heappop(heap)
            children = self._open.pop((group, start))
            total = sum(v for _, v, _ in children.values())
            count = sum(n for _, _, n in children.values())
            end = start + self.size
            self._closed += 1
            when = datetime.fromtimestamp(end / 1000, UTC)
            out.append(Event(RESULT_TYPE, "/edalab/uc4", {
                "identifier": group, "start": start, "end": end, "count": count,
                "sumInW": total, "averageInW": total / count}, key=group, time=when,
                id=f"{group}@{start}"))
            out.append(Event(FEEDBACK_TYPE, "/edalab/uc4", {
                "identifier": group, "timestamp": end, "valueInW": total, "count": count},
                key=group, time=when, id=f"{group}@{end}"))
        return out


def _route_output(output: str, topic: str, late: str):
    topics = {RESULT_TYPE: output, FEEDBACK_TYPE: topic, "window.late": late}
    return lambda event: topics[event.type]


def uc4_hierarchy(broker: Broker | None = None, *, window: str | float = "5s",
                  grace: str | float = "5s", partitions: int = 8, topic: str = "input",
                  output: str = "output", configuration: str = "configuration") -> App:
    """The UC4 App: ``registry`` (its own group per app instance: every instance reads the
    whole registry), ``route`` (group ``uc4-route``) and ``aggregate`` (group
    ``uc4-aggregate``); results on `output`, late child values on ``uc4-late``."""
    app = App(broker, partitions=partitions)
    app.topic(configuration, 1)  # one partition: registry versions stay in order
    registry = Registry()

    @app.handler(configuration, group=f"uc4-registry-{uuid.uuid4().hex[:12]}")
    def apply_registry(event: Event) -> None:
        registry.apply(event)

    @app.handler(topic, group="uc4-route", output=CHILDREN_TOPIC, batch=True)
    def route(events: list[Event]) -> list[Event]:
        return list(_children(events, registry))

    app.handler(CHILDREN_TOPIC, group="uc4-aggregate",
                output=_route_output(output, topic, "uc4-late"), batch=True)(
        HierarchyWindow(window, grace))
    app.registry = registry  # type: ignore[attr-defined]
    return app


def _children(events: Iterable[Event], registry: Registry) -> Iterable[Event]:
    for e in events:
        d = e.data
        ident = d["identifier"]
        count = d.get("count", 1)
        for group in registry.parents(ident, e.time):
            yield Event(CHILD_TYPE, "/edalab/uc4", {
                "group": group, "child": ident, "timestamp": d["timestamp"],
                "valueInW": d["valueInW"], "count": count}, key=group, time=e.time,
                id=f"{group}<{e.id}")
