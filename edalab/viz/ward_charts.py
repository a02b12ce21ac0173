"""Static plotly figures of a monitored ward: NEWS2 level per patient and hour, lead time
against false alerts per method, and the detection of each episode.

Every builder takes frames as `edalab.health` returns them and gives a plain
`plotly.graph_objects.Figure` built only from its inputs (deterministic output).

>>> import pandas as pd
>>> table = pd.DataFrame({"median_lead_minutes": [-250.0, -200.0],
...                       "false_alerts_per_patient_day": [0.02, 0.01],
...                       "detected": [9, 9], "episodes": [9, 9]},
...                      index=pd.Index(["news2", "combined"], name="method"))
>>> fig = tradeoff(table)
>>> [t.name for t in fig.data], list(fig.data[0].x)
(['news2', 'combined'], [0.02])
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edalab.health.alerts import LEVELS
from edalab.viz._style import color as _color
from edalab.viz._style import layout as _layout

__all__ = ["LEVEL_COLORS", "episode_detection", "tradeoff", "ward_levels"]

#: Colours of the response levels (routine, ward review, urgent, emergency).
LEVEL_COLORS = ("#c8e6c9", "#fff59d", "#ffb74d", "#e57373")


def ward_levels(assessed: pd.DataFrame, freq: str = "1h",
                title: str = "Ward: worst NEWS2 level per patient and hour") -> go.Figure:
    """Heatmap: one row per patient, one column per `freq`, coloured by the worst response
    level observed (from `WardMonitor.assessed`).

    Examples
    --------
    >>> t = pd.Timestamp("2024-01-01", tz="UTC")
    >>> a = pd.DataFrame({"time": [t, t + pd.Timedelta("30min"), t], "patient_id":
    ...                   ["p1", "p1", "p2"], "level": ["routine", "urgent", "routine"]})
    >>> ward_levels(a).data[0].z
    ([2], [0])
    """
    level = assessed["level"].map({name: i for i, name in enumerate(LEVELS)})
    binned = assessed.assign(level=level, bin=pd.to_datetime(assessed["time"], utc=True)
                             .dt.floor(freq))
    grid = binned.pivot_table(index="patient_id", columns="bin", values="level", aggfunc="max")
    x = [t.tz_convert("UTC").tz_localize(None).isoformat() for t in grid.columns]
    steps = len(LEVELS)
    scale = [[pos, c] for i, c in enumerate(LEVEL_COLORS)
             for pos in (i / steps, (i + 1) / steps)]
    z = [[None if v != v else int(v) for v in row] for row in grid.to_numpy().tolist()]
    fig = go.Figure(go.Heatmap(z=z, x=x, y=list(grid.index), zmin=-0.5, zmax=steps - 0.5,
                               colorscale=scale, colorbar={"tickvals": list(range(steps)),
                                                           "ticktext": list(LEVELS)}))
    fig.update_layout(xaxis_title="time (UTC)", yaxis_title="patient",
                      yaxis={"autorange": "reversed"})
    return _layout(fig, title, max(300, 14 * len(grid) + 120))


def tradeoff(table: pd.DataFrame, title: str = "Lead time against false alerts") -> go.Figure:
    """One point per row of a comparison table (`edalab.health.scoring.compare_methods`, or a sweep
    with a ``label`` column): false alerts per patient-day against median lead time."""
    fig = go.Figure()
    for i, (name, row) in enumerate(table.iterrows()):
        label = row["label"] if "label" in table.columns else name
        fig.add_scatter(name=str(label), x=[float(row["false_alerts_per_patient_day"])],
                        y=[float(row["median_lead_minutes"])], mode="markers",
                        marker={"size": 11, "color": _color(i)},
                        hovertext=f"detected {int(row['detected'])} of {int(row['episodes'])}")
    fig.update_layout(xaxis_title="false alerts per patient-day",
                      yaxis_title="median lead time, min (negative: after onset)")
    return _layout(fig, title, 380)


def episode_detection(detections: dict[str, pd.DataFrame],
                      title: str = "Lead time per episode and method") -> go.Figure:
    """Lead time of each episode per method (`edalab.health.scoring.detection` frames);
    undetected episodes are left out, censored ones drawn hollow."""
    fig = go.Figure()
    for i, (method, found) in enumerate(detections.items()):
        hit = found[found["detected"]]
        censored = hit["censored"].tolist() if "censored" in hit else [False] * len(hit)
        fig.add_scatter(name=method, x=hit["episode_id"].tolist(),
                        y=hit["lead_minutes"].tolist(), mode="markers",
                        marker={"size": 9, "color": _color(i),
                                "symbol": ["circle-open" if c else "circle" for c in censored]})
    fig.add_hline(y=0, line={"color": "#9e9e9e", "dash": "dash"})
    fig.update_layout(xaxis_title="episode", yaxis_title="lead time, min (0 = onset)")
    return _layout(fig, title, 380)
