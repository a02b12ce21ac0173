"""Static plotly figures of a run that know no case study: the throughput and lag of a run
over its clock (``RunStats.timeline``); `events_frame` (from `edalab.streams`, re-exported
here) turns events into the frames the charts draw.

Every builder returns a plain `plotly.graph_objects.Figure` built only from its inputs, so a
notebook cell or a report showing one is the same on every run.

>>> from edalab import Event
>>> events_frame([Event("metric", "/m", {"name": "auc", "value": 0.7}, id="m1")])[
...     ["type", "id", "name", "value"]]
     type  id name  value
0  metric  m1  auc    0.7
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.streams.frames import events_frame
from edalab.viz.style import color, iso_times, layout

__all__ = ["events_frame", "throughput_and_lag", "throughput_frame"]


def throughput_frame(timeline: pd.DataFrame, points: int = 100) -> pd.DataFrame:
    """Throughput and lag from ``RunStats.timeline``, in at most `points` rows.

    Consecutive run-loop steps are grouped so that each row covers about the same number of
    steps; ``events_per_s`` is source events published per wall second over the group (NaN
    for a group that published none: the run was draining), and ``lag`` the summed lag of
    every handler stream at its end.

    Examples
    --------
    >>> timeline = pd.DataFrame({"step": [1, 1, 2, 2], "wall_seconds": [0.5, 0.5, 1.0, 1.0],
    ...                          "clock": pd.to_datetime(["2018-04-01"] * 2 + ["2018-04-02"] * 2),
    ...                          "published": [100, 100, 300, 300], "stream": ["a", "b"] * 2,
    ...                          "lag": [10, 5, 0, 1]})
    >>> throughput_frame(timeline)
       step      clock  published  wall_seconds  events_per_s  lag
    0     1 2018-04-01        100           0.5         200.0   15
    1     2 2018-04-02        300           1.0         400.0    1
    """
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    steps = (timeline.groupby("step", sort=True)
             .agg(clock=("clock", "last"), published=("published", "last"),
                  wall_seconds=("wall_seconds", "last"), lag=("lag", "sum")).reset_index())
    columns = ["step", "clock", "published", "wall_seconds", "events_per_s", "lag"]
    if steps.empty:
        return pd.DataFrame(columns=columns)
    ends = np.unique(np.linspace(0, len(steps) - 1, min(points, len(steps))).round().astype(int))
    rows = steps.iloc[ends].reset_index(drop=True)
    published = np.concatenate([[0], rows["published"].to_numpy()])
    wall = np.concatenate([[0.0], rows["wall_seconds"].to_numpy(dtype=float)])
    dt, new = np.diff(wall), np.diff(published)
    rate = np.divide(new, dt, out=np.full(len(dt), np.nan), where=(dt > 0) & (new > 0))
    return rows.assign(events_per_s=rate)[columns]


def throughput_and_lag(timeline: pd.DataFrame, points: int = 100,
                       title: str = "Throughput and lag over the run") -> go.Figure:
    """Two rows against the app's clock (event time under the virtual clock): source events
    per wall second, and the lag of every handler stream summed (events appended but not yet
    committed).

    Parameters
    ----------
    timeline
        ``RunStats.timeline`` of a run (or of a `steps` snapshot).
    points
        At most this many points (see `throughput_frame`).
    title
        Figure title.

    Examples
    --------
    >>> from edalab import App, Event
    >>> app = App()
    >>> @app.handler("in")
    ... def sink(event):
    ...     pass
    >>> app.source("in", [Event("e", "/t") for _ in range(3000)])
    >>> fig = throughput_and_lag(app.run(batch_size=500).timeline)
    >>> [(t.name, len(t.x)) for t in fig.data]
    [('events/s', 7), ('lag', 7)]
    """
    frame = throughput_frame(timeline, points)
    x = iso_times(frame["clock"])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    fig.add_scatter(name="events/s", x=x,
                    y=[None if v != v else round(float(v), 1) for v in frame["events_per_s"]],
                    mode="lines", line={"color": color(0), "width": 1.5}, row=1, col=1)
    fig.add_scatter(name="lag", x=x, y=[int(v) for v in frame["lag"]], mode="lines",
                    line={"color": color(1), "width": 1.5, "shape": "hv"}, row=2, col=1)
    fig.update_yaxes(title_text="events/s (wall)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="lag (events)", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="app clock", row=2, col=1)
    return layout(fig, title, 440)
