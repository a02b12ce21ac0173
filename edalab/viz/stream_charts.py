"""Static plotly figures of the simulated streams: fraud per day, amounts, delayed labels, power
load per sensor or group, and replay pacing (a patient's vitals with NEWS2 is a chart of the
health case study: `edalab.health.patient_vitals`).

Every builder takes a frame as `edalab.streams` returns it and gives a plain
`plotly.graph_objects.Figure` built only from its inputs (no random ids, no clock), so a notebook
cell showing one has the same output on every run.

>>> from edalab.streams import transactions
>>> df = transactions(customers=50, terminals=100, days=5, seed=1)
>>> fig = transactions_per_day(df)
>>> [t.name for t in fig.data]
['genuine', 'scenario 1: amount > 220', 'scenario 2: terminal', 'scenario 3: customer']
>>> sum(sum(t.y) for t in fig.data) == len(df)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.durations import parse_duration
from edalab.streams import SensorGroup
from edalab.viz.style import color as _color
from edalab.viz.style import iso_times as _iso
from edalab.viz.style import layout as _style_layout
from edalab.viz.style import legend_above

__all__ = [
    "AMOUNT_UNIT",
    "SCENARIOS",
    "amount_histogram",
    "label_delay",
    "power_load",
    "replay_pacing",
    "transactions_per_day",
]

#: Names of the values of ``TX_FRAUD_SCENARIO`` (0 is a genuine transaction).
SCENARIOS = {0: "genuine", 1: "scenario 1: amount > 220", 2: "scenario 2: terminal",
             3: "scenario 3: customer"}
_SCENARIO_COLORS = ("#b0bec5", "#ef553b", "#ffa15a", "#ab63fa")
#: What a transaction amount is counted in (the handbook names no currency).
AMOUNT_UNIT = "currency units"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The shared look, with the legend above the plot."""
    return legend_above(_style_layout(fig, title, height))


def transactions_per_day(df: pd.DataFrame, title: str = "Transactions per day") -> go.Figure:
    """Stacked bars: transactions per day, genuine at the bottom, fraud by scenario on top.

    Parameters
    ----------
    df
        A frame from `edalab.streams.transactions` (needs ``TX_DATETIME`` and
        ``TX_FRAUD_SCENARIO``).
    title
        Figure title.

    Examples
    --------
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=30, terminals=60, days=4, seed=2)
    >>> fig = transactions_per_day(df)
    >>> [(t.name, list(t.y)) for t in fig.data]  # doctest: +NORMALIZE_WHITESPACE
    [('genuine', [20, 19, 9, 14]), ('scenario 1: amount > 220', [0, 0, 0, 0]),
     ('scenario 2: terminal', [0, 3, 5, 1]), ('scenario 3: customer', [2, 1, 3, 1])]
    """
    day = pd.to_datetime(df["TX_DATETIME"]).dt.floor("D")
    counts = pd.crosstab(day, df["TX_FRAUD_SCENARIO"]).reindex(columns=list(SCENARIOS),
                                                               fill_value=0)
    x = [d.date().isoformat() for d in counts.index]
    fig = go.Figure()
    for scenario, name in SCENARIOS.items():
        y = counts[scenario].astype(int).tolist()
        fig.add_bar(name=name, x=x, y=y, marker_color=_SCENARIO_COLORS[scenario])
    fig.update_layout(barmode="stack", xaxis_title="day (UTC)",
                      yaxis_title="transactions per day")
    return _layout(fig, title, 380)


def amount_histogram(df: pd.DataFrame, bins: int = 50, max_amount: float | None = None,
                     normalize: bool = True,
                     title: str = "Transaction amounts, genuine and fraud") -> go.Figure:
    """Histograms of ``TX_AMOUNT``, genuine above and fraud below, on one shared amount axis.

    Both use the same bins. Each class has its own panel, so the rare frauds are never hidden
    behind the genuine bars, and by default each is normalised to percent of its own class,
    which makes the shapes comparable.

    Parameters
    ----------
    df
        A frame from `edalab.streams.transactions`.
    bins
        Number of equal-width bins from 0 to `max_amount`.
    max_amount
        Upper edge of the last bin (default: the largest amount); larger amounts are counted in
        the last bin.
    normalize
        Percent of each class (default) or counts.
    title
        Figure title.

    Examples
    --------
    >>> df = pd.DataFrame({"TX_AMOUNT": [5.0, 15.0, 15.0, 300.0], "TX_FRAUD": [0, 0, 1, 1]})
    >>> fig = amount_histogram(df, bins=2, max_amount=20, normalize=False)
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]
    [('genuine (2)', [5.0, 15.0], [1, 1]), ('fraud (2)', [5.0, 15.0], [0, 2])]
    >>> fig.data[1].xaxis, fig.data[1].yaxis  # a panel of its own
    ('x2', 'y2')
    """
    amount = df["TX_AMOUNT"].to_numpy(dtype=float)
    top = float(amount.max()) if max_amount is None else float(max_amount)
    edges = np.linspace(0.0, top, bins + 1)
    centers = ((edges[:-1] + edges[1:]) / 2).round(2).tolist()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1)
    is_fraud = df["TX_FRAUD"].to_numpy()
    for row, (label, fraud, color) in enumerate((("genuine", 0, _SCENARIO_COLORS[0]),
                                                  ("fraud", 1, "#ef553b")), 1):
        values = np.minimum(amount[is_fraud == fraud], top)
        counts, _ = np.histogram(values, bins=edges)
        y = (100 * counts / max(values.size, 1)).round(3).tolist() if normalize else (
            counts.tolist())
        fig.add_bar(name=f"{label} ({values.size:,})", x=centers, y=y,
                    width=float(edges[1] - edges[0]), marker_color=color, row=row, col=1)
        fig.update_yaxes(title_text=f"% of {label}" if normalize else f"{label} transactions",
                         row=row, col=1)
    fig.update_xaxes(title_text=f"amount ({AMOUNT_UNIT})", row=2, col=1)
    fig.update_layout(bargap=0.05)
    return _layout(fig, title, 420)


def label_delay(df: pd.DataFrame, delay: str | pd.Timedelta = "7D",
                title: str | None = None) -> go.Figure:
    """Frauds committed versus frauds known, day by day, when labels arrive `delay` late.

    The gap between the two lines is the fraud a model cannot learn from yet: it happened,
    but its ``fraud.label`` event (`edalab.streams.label_events`) has not arrived.

    Parameters
    ----------
    df
        A frame from `edalab.streams.transactions`.
    delay
        The labels' delay, as for `edalab.streams.label_events`.
    title
        Figure title (default names the delay).

    Examples
    --------
    >>> df = pd.DataFrame({"TX_DATETIME": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 09:00",
    ...                                                   "2024-01-03 08:00"]),
    ...                    "TX_FRAUD": [1, 0, 1]})
    >>> fig = label_delay(df, delay="1D")
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]  # doctest: +NORMALIZE_WHITESPACE
    [('frauds committed', ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'], [1, 1, 2, 2]),
     ('frauds known (labelled)', ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04'],
      [0, 1, 1, 2])]
    """
    delay = parse_duration(delay, name="delay", allow_zero=True)
    fraud = pd.to_datetime(df.loc[df["TX_FRAUD"] == 1, "TX_DATETIME"])
    times = pd.to_datetime(df["TX_DATETIME"])
    days = pd.date_range(times.min().floor("D"), (times.max() + delay).floor("D"), freq="D")
    ends = days + pd.Timedelta("1D")  # counts at the end of each day
    committed = np.searchsorted(np.sort(fraud.to_numpy()), ends.to_numpy(), side="left")
    known = np.searchsorted(np.sort((fraud + delay).to_numpy()), ends.to_numpy(), side="left")
    x = [d.date().isoformat() for d in days]
    fig = go.Figure()
    fig.add_scatter(name="frauds committed", x=x, y=committed.tolist(), mode="lines",
                    line={"color": "#ef553b"})
    fig.add_scatter(name="frauds known (labelled)", x=x, y=known.tolist(), mode="lines",
                    line={"color": "#636efa"}, fill="tonexty", fillcolor="rgba(239,85,59,0.15)")
    fig.update_layout(xaxis_title="day (UTC)", yaxis_title="frauds, cumulative count")
    return _layout(fig, title or f"Frauds committed and known, labels {_delay_text(delay)} late",
                   360)


def _delay_text(delay: pd.Timedelta) -> str:
    days = delay / pd.Timedelta("1D")
    return f"{days:g} days" if days >= 1 else str(delay)


def power_load(df: pd.DataFrame, registry: SensorGroup | None = None, freq: str = "5min",
               title: str | None = None) -> go.Figure:
    """Load over time: one line per sensor, or stacked areas per group of a sensor registry.

    Readings are averaged per sensor over each `freq` interval (a sensor's load, in W); with a
    `registry`, each child of its root is one area, the sum of its sensors' loads, so the top of
    the stack is the root's total (the hierarchical aggregation of Theodolite's UC4).

    Parameters
    ----------
    df
        A frame from `edalab.streams.power_sensors`.
    registry
        A `SensorGroup` (e.g. `edalab.streams.sensor_registry`); default: one line per sensor.
    freq
        Width of the time bins (a pandas offset, e.g. ``"1min"``).
    title
        Figure title.

    Examples
    --------
    >>> from edalab.streams import power_sensors, sensor_registry
    >>> df = power_sensors(sensors=4, duration="2min", period_ms=10_000, seed=1)
    >>> per_sensor = power_load(df, freq="1min")
    >>> [t.name for t in per_sensor.data]
    ['s_0', 's_1', 's_2', 's_3']
    >>> grouped = power_load(df, sensor_registry(sensors=4, fanout=2), freq="1min")
    >>> [t.name for t in grouped.data], len(grouped.data[0].x)
    (['g_1_0 (2 sensors)', 'g_1_1 (2 sensors)'], 2)
    >>> total = lambda fig: np.sum([t.y for t in fig.data], axis=0)
    >>> bool(np.allclose(total(grouped), total(per_sensor), atol=0.02))
    True
    """
    width_ms = int(parse_duration(freq, name="freq").total_seconds() * 1000)
    start_ms = df["timestamp"].to_numpy(dtype=np.int64)
    bins = start_ms // width_ms * width_ms
    load = (df.assign(bin=bins).groupby(["bin", "identifier"])["valueInW"].mean()
            .unstack("identifier").fillna(0.0))
    sensors = sorted(load.columns, key=lambda s: (len(s), s))  # s_2 before s_10
    x = _iso(pd.to_datetime(load.index, unit="ms", utc=True))
    fig = go.Figure()
    if registry is None:
        for i, sensor in enumerate(sensors):
            fig.add_scatter(name=sensor, x=x, y=load[sensor].round(2).tolist(), mode="lines",
                            line={"color": _color(i), "width": 1.5})
        heading = f"Load per sensor, mean over {freq}"
    else:
        for i, child in enumerate(registry.children):
            members = child.sensors() if isinstance(child, SensorGroup) else [child]
            members = [s for s in members if s in load.columns]
            name = child.identifier if isinstance(child, SensorGroup) else child
            y = load[members].sum(axis=1).round(2).tolist()
            fig.add_scatter(name=f"{name} ({len(members)} sensors)", x=x, y=y, mode="lines",
                            stackgroup="groups", line={"color": _color(i), "width": 0.5})
        heading = f"Load per group of {registry.identifier!r}, stacked (mean over {freq})"
    fig.update_layout(xaxis_title="time (UTC)", yaxis_title="load (W)")
    return _layout(fig, title or heading, 380)


def replay_pacing(event_seconds: Sequence[float], wall_seconds: Sequence[float], speed: float,
                  title: str | None = None) -> go.Figure:
    """Measured pacing of a replay: wall-clock time each event was received against its event
    time, beside the ideal line ``wall = event / speed``.

    Parameters
    ----------
    event_seconds
        Each event's time, in seconds since the first event.
    wall_seconds
        When each event was received, in wall seconds since the first one.
    speed
        The replay's speed factor.
    title
        Figure title.

    Examples
    --------
    >>> fig = replay_pacing([0, 60, 120], [0.0, 1.01, 2.0], speed=60)
    >>> [(t.name, list(t.y)) for t in fig.data]
    [('ideal', [0.0, 2.0]), ('measured', [0.0, 1.01, 2.0])]
    """
    event = [float(v) for v in event_seconds]
    fig = go.Figure()
    end = max(event) if event else 0.0
    fig.add_scatter(name="ideal", x=[0.0, end], y=[0.0, end / speed], mode="lines",
                    line={"color": "#b0bec5", "dash": "dash"})
    fig.add_scatter(name="measured", x=event, y=[float(v) for v in wall_seconds],
                    mode="markers", marker={"color": "#636efa", "size": 6})
    fig.update_layout(xaxis_title="event time (s since the first event)",
                      yaxis_title="wall time (s since the first event)")
    return _layout(fig, title or f"Replay at speed={speed:g}: when each event arrived", 360)
