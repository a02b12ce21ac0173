"""Static plotly figures of a broker: partition load, the log, assignments, deliveries, lag.

Every builder returns a plain `plotly.graph_objects.Figure` built only from its inputs (no random
ids, no clock), so a notebook cell that shows one gives the same output on every run. Live
dashboards belong elsewhere; these are the charts a report or a tested notebook shows.

>>> from datetime import datetime, timezone
>>> from edalab import Event, MemoryBroker
>>> broker = MemoryBroker()
>>> broker.create_topic("orders", partitions=2)
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> keys = ["alice", "bob", "carol", "alice", "bob", "alice"]
>>> broker.publish_many("orders", [Event("order", "/shop", {"n": i}, key=k, time=t0,
...                                      id=f"o{i}") for i, k in enumerate(keys)])
6
>>> fig = partition_load(broker)
>>> [(trace.name, list(trace.y)) for trace in fig.data]
[('orders', [2, 4])]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from edalab.brokers.base import DLQ_SUFFIX, Broker, Consumer, Record
from edalab.viz.style import color as _color
from edalab.viz.style import layout as _style_layout
from edalab.viz.style import legend_above

__all__ = [
    "OUTCOMES",
    "DeliveryLog",
    "assignment_chart",
    "assignments",
    "delivery_timeline",
    "lag_over_time",
    "partition_load",
    "partition_log",
    "records_frame",
]


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The shared look, with the legend above the plot."""
    return legend_above(_style_layout(fig, title, height))


#: What happened to a delivery, and how `delivery_timeline` draws it (plotly marker symbols).
OUTCOMES: dict[str, str] = {
    "acked": "circle",
    "unacked": "circle-open",
    "nacked": "diamond-open",
    "dead-lettered": "x",
}


def records_frame(records: Iterable[Record], extensions: bool = False) -> pd.DataFrame:
    """A table of records: topic, partition, offset, attempt and the event's attributes.

    The broker's append `timestamp` (a ``perf_counter`` reading) is left out, so the table is
    the same on every run. With ``extensions=True`` each extension attribute (for example the
    ``dl*`` attributes of a dead letter) gets a column.

    Parameters
    ----------
    records
        Records from a poll (a `Batch`) or from ``broker.read(topic)``.
    extensions
        Add one column per extension attribute.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from edalab import Event, MemoryBroker
    >>> broker = MemoryBroker()
    >>> broker.create_topic("orders", partitions=2)
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> keys = ["bob", "alice", "dave"]
    >>> broker.publish_many("orders", [Event("order", "/shop", {"n": i}, key=k, time=t0,
    ...                                      id=f"o{i}") for i, k in enumerate(keys)])
    3
    >>> records_frame(broker.read("orders"))[["partition", "offset", "key", "id"]]
       partition  offset    key  id
    0          0       0    bob  o0
    1          0       1   dave  o2
    2          1       0  alice  o1
    """
    rows = []
    for r in records:
        e = r.event
        row: dict[str, Any] = {
            "topic": r.topic, "partition": r.partition, "offset": r.offset,
            "attempt": r.attempt, "key": e.key, "id": e.id, "type": e.type,
            "time": e.time, "data": e.data,
        }
        if extensions and e.extensions:
            row.update(e.extensions)
        rows.append(row)
    columns = ["topic", "partition", "offset", "attempt", "key", "id", "type", "time", "data"]
    return pd.DataFrame(rows, columns=None if rows else columns)


def _topics(broker: Broker, topics: Sequence[str] | None) -> list[str]:
    if topics is not None:
        return list(topics)
    return [t for t in broker.topics() if not t.endswith(DLQ_SUFFIX)]


def partition_load(broker: Broker, topics: Sequence[str] | None = None,
                   title: str = "Events per partition") -> go.Figure:
    """Bar chart: how many events each partition of each topic holds (its end offset).

    A skewed key distribution shows up as one tall bar: the partition a hot key hashes to.

    Parameters
    ----------
    broker
        Any edalab broker.
    topics
        Topics to show; by default every topic except dead-letter topics.
    title
        Figure title.

    Examples
    --------
    >>> from edalab import Event, MemoryBroker
    >>> broker = MemoryBroker()
    >>> broker.create_topic("a", partitions=3)
    >>> broker.create_topic("b", partitions=3)
    >>> for i in range(5):
    ...     _ = broker.publish("a", Event("x", "/t", key="erin"))
    >>> fig = partition_load(broker)
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]
    [('a', ['p0', 'p1', 'p2'], [5, 0, 0]), ('b', ['p0', 'p1', 'p2'], [0, 0, 0])]
    """
    fig = go.Figure()
    for i, topic in enumerate(_topics(broker, topics)):
        ends = broker.end_offsets(topic)
        fig.add_bar(name=topic, x=[f"p{p}" for p in range(len(ends))], y=ends,
                    marker_color=_color(i), text=ends, textposition="outside")
    fig.update_layout(barmode="group", xaxis_title="partition", yaxis_title="events")
    return _layout(fig, title, 360)


def partition_log(broker: Broker, topic: str, title: str | None = None) -> go.Figure:
    """The log of `topic` drawn as it is stored: one row per partition, one cell per offset,
    coloured by the event's key (each cell labelled with its key).

    All events of a key sit in one row, in the order they were published: that is the ordering
    guarantee a partitioned log gives (per key, not across keys).

    Parameters
    ----------
    broker
        Any edalab broker.
    topic
        The topic to draw.
    title
        Figure title (default: the topic's name).

    Examples
    --------
    >>> from edalab import Event, MemoryBroker
    >>> broker = MemoryBroker()
    >>> broker.create_topic("orders", partitions=2)
    >>> _ = broker.publish_many("orders", [Event("o", "/s", key=k)
    ...                                   for k in ["alice", "bob", "carol", "alice", "bob"]])
    >>> fig = partition_log(broker, "orders")
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]
    [('alice', [0, 2], ['p1', 'p1']), ('bob', [0, 1], ['p0', 'p0']), ('carol', [1], ['p1'])]
    """
    records = broker.read(topic)
    keys = sorted({str(r.event.key) for r in records})
    fig = go.Figure()
    for i, key in enumerate(keys):
        mine = [r for r in records if str(r.event.key) == key]
        fig.add_scatter(
            name=key, x=[r.offset for r in mine], y=[f"p{r.partition}" for r in mine],
            mode="markers+text", text=[key] * len(mine), textfont={"color": "white", "size": 11},
            marker={"symbol": "square", "size": 46, "color": _color(i)},
            hovertext=[f"{r.event.id} @ p{r.partition}:{r.offset}" for r in mine],
            hoverinfo="text",
        )
    n = broker.partitions(topic) if hasattr(broker, "partitions") else None
    order = [f"p{p}" for p in range(n)] if n else None
    fig.update_yaxes(categoryorder="array", categoryarray=order[::-1] if order else None,
                     title="partition")
    last = max((r.offset for r in records), default=0)
    fig.update_xaxes(title="offset (position in the partition's log)", dtick=1,
                     range=[-0.6, last + 0.6])  # no empty offsets -1 or last + 1 at the edges
    return _layout(fig, title or f"The log of {topic!r}: partitions × offsets, by key",
                   150 + 64 * (n or 3))


def assignments(consumers: Mapping[str, Consumer]) -> dict[str, list[int]]:
    """Which partitions each named, still-open consumer owns now.

    Examples
    --------
    >>> from edalab import MemoryBroker
    >>> broker = MemoryBroker()
    >>> broker.create_topic("orders", partitions=3)
    >>> a = broker.subscribe("orders", group="billing")
    >>> b = broker.subscribe("orders", group="billing")
    >>> assignments({"a": a, "b": b})
    {'a': [0, 1], 'b': [2]}
    >>> b.close()
    >>> assignments({"a": a, "b": b})
    {'a': [0, 1, 2]}
    """
    return {name: sorted(c.assignment()) for name, c in consumers.items()
            if not getattr(c, "closed", False)}


def assignment_chart(snapshots: Sequence[tuple[str, Mapping[str, Sequence[int]]]],
                     partitions: int, title: str = "Who owns which partition") -> go.Figure:
    """Grid of partition ownership through a sequence of rebalances.

    Parameters
    ----------
    snapshots
        ``(label, {member: partitions})`` pairs in time order, e.g. from `assignments` after
        each member joins or leaves.
    partitions
        The topic's partition count (rows of the grid).
    title
        Figure title.

    Examples
    --------
    >>> fig = assignment_chart([("a joins", {"a": [0, 1]}),
    ...                         ("b joins", {"a": [0], "b": [1]})], partitions=2)
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]
    [('a', ['a joins', 'a joins', 'b joins'], ['p0', 'p1', 'p0']), ('b', ['b joins'], ['p1'])]
    """
    members: list[str] = []
    for _, owned in snapshots:
        members += [m for m in owned if m not in members]
    labels = [label for label, _ in snapshots]
    fig = go.Figure()
    for i, member in enumerate(members):
        xs: list[str] = []
        ys: list[str] = []
        for label, owned in snapshots:
            for p in sorted(owned.get(member, ())):
                xs.append(label)
                ys.append(f"p{p}")
        fig.add_scatter(name=member, x=xs, y=ys, mode="markers+text", text=[member] * len(xs),
                        textfont={"color": "white", "size": 11},
                        marker={"symbol": "square", "size": 60, "color": _color(i)},
                        hoverinfo="name+x+y")
    fig.update_xaxes(categoryorder="array", categoryarray=labels, title="group membership after")
    fig.update_yaxes(categoryorder="array",
                     categoryarray=[f"p{p}" for p in range(partitions)][::-1], title="partition")
    return _layout(fig, title, 170 + 74 * partitions)


class DeliveryLog:
    """Collects deliveries (who got which record at which step, and what became of it) for
    `delivery_timeline`.

    Outcomes are the keys of `OUTCOMES`: ``"acked"``, ``"unacked"`` (the consumer crashed or
    closed before acking), ``"nacked"`` (failed, will be delivered again) and
    ``"dead-lettered"`` (failed on its last attempt).

    Examples
    --------
    >>> from edalab import Event, MemoryBroker
    >>> broker = MemoryBroker()
    >>> broker.create_topic("orders")
    >>> _ = broker.publish("orders", Event("o", "/s", key="k", id="o1"))
    >>> worker = broker.subscribe("orders", group="g")
    >>> log = DeliveryLog()
    >>> batch = worker.poll()
    >>> log.add(1, "worker", batch, outcome="nacked")
    >>> worker.nack(batch[0], error="boom")
    >>> batch = worker.poll()
    >>> log.add(2, "worker", batch)
    >>> worker.ack(batch)
    >>> log.to_frame()[["step", "consumer", "partition", "offset", "attempt", "outcome"]]
       step consumer  partition  offset  attempt outcome
    0     1   worker          0       0        1  nacked
    1     2   worker          0       0        2   acked
    """

    COLUMNS = ("step", "consumer", "topic", "partition", "offset", "attempt", "key", "outcome")

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"DeliveryLog({len(self.rows)} deliveries)"

    def add(self, step: int, consumer: str, records: Iterable[Record],
            outcome: str = "acked") -> None:
        """Note that `consumer` received `records` at `step` and what became of them."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {list(OUTCOMES)}, got {outcome!r}")
        self.rows += [(step, consumer, r.topic, r.partition, r.offset, r.attempt, r.event.key,
                       outcome) for r in records]

    def to_frame(self) -> pd.DataFrame:
        """One row per delivery, in the order they were added."""
        return pd.DataFrame(self.rows, columns=list(self.COLUMNS))


def delivery_timeline(deliveries: DeliveryLog | pd.DataFrame,
                      title: str = "Deliveries: who got which record, when") -> go.Figure:
    """Timeline of deliveries: one row per log position (``p<partition>:<offset>``), one
    marker per delivery at its step, coloured by consumer, shaped by outcome.

    A record delivered twice has two markers in its row: first an open circle (delivered, never
    acked: its consumer crashed) or an open diamond (nacked), then the redelivery, labelled with
    its attempt number. A cross is a dead letter.

    Parameters
    ----------
    deliveries
        A `DeliveryLog`, or a frame with its columns.
    title
        Figure title.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"step": [1, 2], "consumer": ["b", "a"], "topic": "t",
    ...                       "partition": [1, 1], "offset": [0, 0], "attempt": [1, 2],
    ...                       "key": "k", "outcome": ["unacked", "acked"]})
    >>> fig = delivery_timeline(frame)
    >>> [(t.name, list(t.x), list(t.y), list(t.text)) for t in fig.data]
    [('b · unacked', [1], ['p1:0'], ['']), ('a · acked', [2], ['p1:0'], ['×2'])]
    """
    frame = deliveries.to_frame() if isinstance(deliveries, DeliveryLog) else deliveries
    consumers = list(dict.fromkeys(frame["consumer"]))
    rows = sorted({(int(p), int(o)) for p, o in zip(frame["partition"], frame["offset"],
                                                     strict=True)})
    fig = go.Figure()
    for i, consumer in enumerate(consumers):
        for outcome, symbol in OUTCOMES.items():
            part = frame[(frame["consumer"] == consumer) & (frame["outcome"] == outcome)]
            if part.empty:
                continue
            attempts = [int(a) for a in part["attempt"]]
            fig.add_scatter(
                name=f"{consumer} · {outcome}", legendgroup=consumer,
                x=[int(s) for s in part["step"]],
                y=[f"p{p}:{o}" for p, o in zip(part["partition"], part["offset"], strict=True)],
                mode="markers+text", text=[f"×{a}" if a > 1 else "" for a in attempts],
                textposition="middle right", textfont={"size": 10, "color": _color(i)},
                marker={"symbol": symbol, "size": 11, "color": _color(i),
                        "line": {"width": 2, "color": _color(i)}},
                hovertext=[f"{consumer}: p{p}:{o} key={k} attempt {a}, {outcome}"
                           for p, o, k, a in zip(part["partition"], part["offset"],
                                                 part["key"], attempts, strict=True)],
                hoverinfo="text",
            )
    fig.update_yaxes(categoryorder="array", categoryarray=[f"p{p}:{o}" for p, o in rows][::-1],
                     title="partition:offset")
    fig.update_xaxes(title="step (one poll of each consumer)", dtick=1)
    return _layout(fig, title, 190 + 20 * max(len(rows), 8))


def lag_over_time(timeline: pd.DataFrame, x: str = "step",
                  title: str = "Consumer lag after each step") -> go.Figure:
    """Line chart of lag per handler stream (``topic/group``) from `RunStats.timeline`.

    Lag is what was appended but not yet committed: it grows while a handler receives more
    than it processes per step and drains once its input slows down.

    Parameters
    ----------
    timeline
        ``RunStats.timeline`` (columns ``step``, ``clock``, ``stream``, ``lag``, ...).
    x
        ``"step"`` (run-loop iterations, the same on every run) or ``"clock"`` (the app's
        clock: event time under the virtual clock).
    title
        Figure title.

    Examples
    --------
    >>> from edalab import App, Event
    >>> app = App()
    >>> @app.handler("in", output="out")
    ... def double(event):
    ...     return [event, event]
    >>> @app.handler("out")
    ... def sink(event):
    ...     pass
    >>> app.source("in", [Event("e", "/t") for _ in range(40)])
    >>> stats = app.run(batch_size=10)
    >>> fig = lag_over_time(stats.timeline)
    >>> [(t.name, list(t.y)) for t in fig.data][1]
    ('out/sink', [10, 20, 30, 40, 30, 20, 10, 0, 0])
    """
    if x not in ("step", "clock", "wall_seconds", "published"):
        raise ValueError(f"x must be 'step', 'clock', 'wall_seconds' or 'published', got {x!r}")
    fig = go.Figure()
    for i, (stream, part) in enumerate(timeline.groupby("stream", sort=False)):
        xs = part[x].dt.to_pydatetime().tolist() if x == "clock" else part[x].tolist()
        fig.add_scatter(name=str(stream), x=xs, y=[int(v) for v in part["lag"]],
                        mode="lines+markers", line={"color": _color(i), "shape": "hv"},
                        marker={"size": 5})
    fig.update_xaxes(title={"step": "run-loop step", "clock": "app clock (UTC)",
                            "wall_seconds": "wall time (s since the run started)",
                            "published": "source events published"}[x])
    fig.update_yaxes(title="lag (events not yet committed)", rangemode="tozero")
    return _layout(fig, title, 360)
