"""Static plotly figures of a monitored ward: NEWS2 level per patient and hour, lead time
against false alerts per method, the detection of each episode, and one patient's vitals with
NEWS2.

Every builder takes frames as `edalab.health` (or `edalab.streams.vitals`) returns them and
gives a plain
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

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.health.alerts import LEVELS
from edalab.health.news2 import VALID_RANGES, news2_frame
from edalab.streams import vitals_episodes
from edalab.viz.style import color as _color
from edalab.viz.style import iso_times as _iso
from edalab.viz.style import layout as _layout

__all__ = ["LEVEL_COLORS", "RISK_BANDS", "episode_detection", "patient_vitals", "tradeoff",
           "ward_levels"]

#: Colours of the response levels (routine, ward review, urgent, emergency).
LEVEL_COLORS = ("#c8e6c9", "#fff59d", "#ffb74d", "#e57373")
#: NEWS2 risk bands by total score: (label, low, high, colour) for the shaded background.
RISK_BANDS = (("low", 0, 4.5, "#e8f5e9"), ("medium", 4.5, 6.5, "#fff3e0"),
              ("high", 6.5, 20, "#ffebee"))


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


_VITAL_ROWS = (("pulse", 1), ("systolic_bp", 1), ("spo2", 1), ("respiration_rate", 2),
               ("temperature", 2))


def patient_vitals(df: pd.DataFrame, patient_id: str, spo2_scale: int = 1,
                   title: str | None = None) -> go.Figure:
    """One patient's vital signs over time, with NEWS2 underneath and the episode marked.

    Row 1 shows pulse, systolic blood pressure and SpO2, row 2 respiration rate and temperature,
    row 3 the NEWS2 total over the shaded risk bands (`RISK_BANDS`; a red score alone makes
    "low-medium"); rounds with a value missing or impossible have no total and leave a gap.
    Physically impossible readings (outside `edalab.health.news2.VALID_RANGES`, such as a
    transcription error) are left out of the vital-sign lines too, as NEWS2 leaves them out. If
    the patient has a deterioration episode (`edalab.streams.vitals_episodes`), a dashed line
    marks its onset and the shaded span the ramp up to its peak.

    Parameters
    ----------
    df
        A frame from `edalab.streams.vitals` (the episodes travel in ``df.attrs``).
    patient_id
        The patient to show, e.g. ``"p001"``.
    spo2_scale
        NEWS2 SpO2 scale, as for `edalab.health.news2_frame`.
    title
        Figure title (default names the patient and the episode).

    Examples
    --------
    >>> from edalab.streams import vitals
    >>> ward = vitals(patients=2, hours=2, seed=5)
    >>> fig = patient_vitals(ward, "p000")
    >>> [t.name for t in fig.data]
    ['pulse', 'systolic_bp', 'spo2', 'respiration_rate', 'temperature', 'NEWS2']
    >>> len(fig.data[-1].y), int((ward["patient_id"] == "p000").sum())
    (8, 8)
    """
    rows = df[df["patient_id"] == patient_id].sort_values("time", kind="stable")
    if rows.empty:
        raise ValueError(f"no observations of patient {patient_id!r}")
    scores = news2_frame(rows, spo2_scale=spo2_scale)
    x = _iso(rows["time"])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.4, 0.3, 0.3])
    for i, (name, row) in enumerate(_VITAL_ROWS):
        low, high = VALID_RANGES[name]
        y = [v if low <= v <= high else None for v in rows[name].astype(float).tolist()]
        fig.add_scatter(name=name, x=x, y=y, mode="lines+markers", marker={"size": 4},
                        line={"color": _color(i), "width": 1.5}, row=row, col=1)
    total = [None if v != v else int(v) for v in scores["total"].tolist()]
    fig.add_scatter(name="NEWS2", x=x, y=total, mode="lines+markers", marker={"size": 4},
                    line={"color": "black", "width": 1.5, "shape": "hv"},
                    hovertext=[str(r) for r in scores["risk"].astype(object).tolist()],
                    row=3, col=1)
    top = max(8.0, float(np.nanmax(scores["partial_total"].to_numpy())) + 1)
    for label, lo, hi, color in RISK_BANDS:
        fig.add_hrect(y0=lo - 0.5 if lo == 0 else lo, y1=min(hi, top), fillcolor=color,
                      line_width=0, layer="below", row=3, col=1)
        fig.add_annotation(x=1.0, xref="x domain", y=(lo + min(hi, top)) / 2, yref="y3",
                           text=label, showarrow=False, xanchor="right",
                           font={"size": 10, "color": "#757575"})
    heading = f"Patient {patient_id}"
    episode = _episode(df, patient_id)
    if episode is not None:
        onset, peak = _iso([episode["onset"], episode["peak"]])
        fig.add_shape(type="rect", xref="x", yref="paper", x0=onset, x1=peak, y0=0, y1=1,
                      fillcolor="rgba(239,85,59,0.08)", line_width=0, layer="below")
        fig.add_shape(type="line", xref="x", yref="paper", x0=onset, x1=onset, y0=0, y1=1,
                      line={"color": "#ef553b", "dash": "dash", "width": 1.5})
        fig.add_annotation(x=onset, xref="x", y=1.0, yref="paper", text="onset",
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font={"color": "#ef553b"})
        heading += f": {episode['kind']} from {pd.Timestamp(episode['onset']):%d %b %H:%M}"
    fig.update_yaxes(title_text="/min, mmHg, %", row=1, col=1)
    fig.update_yaxes(title_text="/min, °C", row=2, col=1)
    fig.update_yaxes(title_text="NEWS2", range=[-0.5, top], row=3, col=1)
    return _layout(fig, title or heading, 620)


def _episode(df: pd.DataFrame, patient_id: str) -> pd.Series | None:
    try:
        episodes = vitals_episodes(df)
    except ValueError:  # a frame without ground truth (e.g. read back from CSV)
        return None
    mine = episodes[episodes["patient_id"] == patient_id]
    return None if mine.empty else mine.iloc[0]
