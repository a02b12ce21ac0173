"""Static plotly figures of a monitored ward: NEWS2 level per patient and hour, lead time
before the adverse event against alarm burden per method, the lead of each episode, one
patient's vitals with NEWS2, and the monitoring pipeline as a drawn diagram.

Every builder takes frames as `edalab.health` (or `edalab.streams.vitals`) returns them and
gives a plain `plotly.graph_objects.Figure` built only from its inputs (deterministic output).
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

__all__ = ["LEVEL_COLORS", "RISK_BANDS", "episode_detection", "patient_vitals",
           "pipeline_diagram", "tradeoff", "ward_levels"]

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
                               colorscale=scale, xgap=1, ygap=1,
                               colorbar={"tickvals": list(range(steps)),
                                         "ticktext": list(LEVELS), "tickfont": {"size": 13}}))
    # Every patient labelled, at a size that reads at JupyterLab's default width.
    fig.update_layout(xaxis={"title": "time (UTC)", "tickfont": {"size": 12}},
                      yaxis={"title": "patient", "autorange": "reversed", "dtick": 1,
                             "tickfont": {"size": 12}})
    return _layout(fig, title, max(320, 20 * len(grid) + 130))


def tradeoff(table: pd.DataFrame, title: str = "Lead time against alarm burden") -> go.Figure:
    """One point per row of a comparison table (`edalab.health.scoring.compare_methods`, or a
    sweep with a ``label`` column): the median lead before the adverse event, with its
    interquartile range as an error bar, against pages per nurse-hour; each point is labelled
    with how many deteriorations it paged in time.

    Examples
    --------
    >>> table = pd.DataFrame({"median_lead_minutes": [100.0, 130.0],
    ...                       "lead_q1_minutes": [60.0, 90.0], "lead_q3_minutes": [150.0, 200.0],
    ...                       "pages_per_nurse_hour": [0.05, 0.08], "false_alerts": [0, 3],
    ...                       "detected": [8, 9], "episodes": [10, 10]},
    ...                      index=pd.Index(["news2", "combined"], name="method"))
    >>> fig = tradeoff(table)
    >>> [t.name for t in fig.data], list(fig.data[1].y), list(fig.data[1].error_y.array)
    (['news2', 'combined'], [130.0], [70.0])
    >>> fig.data[1].text
    ('9 of 10 in time',)
    """
    fig = go.Figure()
    for i, (name, row) in enumerate(table.iterrows()):
        label = row["label"] if "label" in table.columns else name
        median = float(row["median_lead_minutes"])
        fig.add_scatter(
            name=str(label), x=[float(row["pages_per_nurse_hour"])], y=[median],
            error_y={"type": "data", "array": [float(row["lead_q3_minutes"]) - median],
                     "arrayminus": [median - float(row["lead_q1_minutes"])], "width": 6},
            mode="markers+text", text=[f"{int(row['detected'])} of {int(row['episodes'])} "
                                       "in time"],
            textposition="middle right", marker={"size": 12, "color": _color(i)},
            hovertext=f"{label}: {int(row['false_alerts'])} false alerts")
    top = float(table["pages_per_nurse_hour"].max()) if len(table) else 1.0
    fig.add_hline(y=0, line={"color": "#9e9e9e", "dash": "dash"},
                  annotation_text="0: paged at the adverse event",
                  annotation_position="top right")
    fig.update_layout(xaxis={"title": "alarm burden, pages per nurse-hour",
                             "range": [0, 1.35 * top or 1.0]},
                      yaxis={"title": "lead before the adverse event, min (+ = ahead)",
                             "rangemode": "tozero"})
    return _layout(fig, title + " (median, bars: interquartile range)", 420)


def episode_detection(detections: dict[str, pd.DataFrame],
                      title: str = "Lead time per episode and method") -> go.Figure:
    """One row per episode that reached its adverse event, one marker per method at its lead
    time (`edalab.health.scoring.detection` frames): filled when paged in time, a cross when
    paged only after the adverse event; an episode a method never paged has no marker for it.

    Examples
    --------
    >>> t = pd.Timestamp("2024-01-01", tz="UTC")
    >>> found = pd.DataFrame({"episode_id": ["e1", "e2"], "emergency": [True, True],
    ...                       "detected": [True, False], "lead_minutes": [90.0, -30.0]})
    >>> fig = episode_detection({"news2": found})
    >>> list(fig.data[0].x), list(fig.data[0].marker.symbol), fig.data[0].name
    ([90.0, -30.0], ['circle', 'x'], 'news2: 1 of 2 in time')
    """
    fig = go.Figure()
    ids = sorted({e for f in detections.values() for e in f.loc[f["emergency"], "episode_id"]})
    row = {e: i for i, e in enumerate(ids)}
    n = len(detections)
    for i, (method, found) in enumerate(detections.items()):
        scored = found[found["emergency"]]
        paged = scored[scored["lead_minutes"].notna()]
        shift = (i - (n - 1) / 2) * 0.22  # methods side by side: equal leads stay visible
        fig.add_scatter(
            name=f"{method}: {int(scored['detected'].sum())} of {len(scored)} in time",
            y=[row[e] + shift for e in paged["episode_id"]], x=paged["lead_minutes"].tolist(),
            mode="markers", text=paged["episode_id"].tolist(),
            hovertemplate="%{text}: %{x:.0f} min",
            marker={"size": 9, "color": _color(i),
                    "symbol": ["circle" if d else "x" for d in paged["detected"]]})
    fig.add_vline(x=0, line={"color": "#9e9e9e", "dash": "dash"},
                  annotation_text="adverse event", annotation_position="top left")
    fig.update_layout(xaxis_title="lead before the adverse event, min (+ = ahead)",
                      yaxis={"title": "episode", "autorange": "reversed",
                             "tickvals": list(range(len(ids))), "ticktext": ids,
                             "zeroline": False})
    return _layout(fig, title, max(320, 30 * len(ids) + 170))


_VITAL_ROWS = (("pulse", "pulse, beats/min"), ("systolic_bp", "systolic BP, mmHg"),
               ("spo2", "SpO2, %"), ("respiration_rate", "respiration, breaths/min"),
               ("temperature", "temperature, °C"))


def patient_vitals(df: pd.DataFrame, patient_id: str, spo2_scale: int = 1,
                   title: str | None = None) -> go.Figure:
    """One patient's vital signs over time, one per row with its unit, NEWS2 underneath, the
    episode marked.

    Rows 1-5 show pulse, systolic blood pressure, SpO2, respiration rate and temperature, each
    on its own axis titled with its unit; row 6 the NEWS2 total over the shaded risk bands
    (`RISK_BANDS`; a red score alone makes "low-medium"); rounds with a value missing or
    impossible have no total and leave a gap. Physically impossible readings (outside
    `edalab.health.news2.VALID_RANGES`, such as a transcription error) are left out of the
    vital-sign lines too, as NEWS2 leaves them out. If the patient has a deterioration episode
    (`edalab.streams.vitals_episodes`), a dashed line marks its onset, the shaded span the ramp
    up to its peak, and a solid line its adverse event.

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
    >>> fig.layout.yaxis2.title.text, fig.layout.xaxis6.title.text
    ('systolic BP, mmHg', 'time (UTC)')
    """
    rows = df[df["patient_id"] == patient_id].sort_values("time", kind="stable")
    if rows.empty:
        raise ValueError(f"no observations of patient {patient_id!r}")
    scores = news2_frame(rows, spo2_scale=spo2_scale)
    x = _iso(rows["time"])
    n = len(_VITAL_ROWS) + 1
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.025)
    for i, (name, axis_title) in enumerate(_VITAL_ROWS):
        low, high = VALID_RANGES[name]
        y = [v if low <= v <= high else None for v in rows[name].astype(float).tolist()]
        fig.add_scatter(name=name, x=x, y=y, mode="lines+markers", marker={"size": 4},
                        line={"color": _color(i), "width": 1.5}, showlegend=False,
                        row=i + 1, col=1)
        fig.update_yaxes(title_text=axis_title, row=i + 1, col=1)
    total = [None if v != v else int(v) for v in scores["total"].tolist()]
    fig.add_scatter(name="NEWS2", x=x, y=total, mode="lines+markers", marker={"size": 4},
                    line={"color": "black", "width": 1.5, "shape": "hv"}, showlegend=False,
                    hovertext=[str(r) for r in scores["risk"].astype(object).tolist()],
                    row=n, col=1)
    top = max(8.0, float(np.nanmax(scores["partial_total"].to_numpy())) + 1)
    for label, lo, hi, color in RISK_BANDS:
        fig.add_hrect(y0=lo - 0.5 if lo == 0 else lo, y1=min(hi, top), fillcolor=color,
                      line_width=0, layer="below", row=n, col=1)
        fig.add_annotation(x=1.0, xref="x domain", y=(lo + min(hi, top)) / 2, yref=f"y{n}",
                           text=label, showarrow=False, xanchor="right",
                           font={"size": 11, "color": "#757575"})
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
        adverse = episode.get("adverse_event")
        if adverse is not None and not pd.isna(adverse):
            (at,) = _iso([adverse])
            fig.add_shape(type="line", xref="x", yref="paper", x0=at, x1=at, y0=0, y1=1,
                          line={"color": "#b71c1c", "width": 2})
            fig.add_annotation(x=at, xref="x", y=1.0, yref="paper", text="adverse event",
                               showarrow=False, xanchor="left", yanchor="bottom",
                               font={"color": "#b71c1c"})
            heading += f", adverse event {pd.Timestamp(adverse):%d %b %H:%M}"
    fig.update_yaxes(title_text="NEWS2, points", range=[-0.5, top], row=n, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=n, col=1)
    fig.update_yaxes(title_font={"size": 11})
    return _layout(fig, title or heading, 900)


def _episode(df: pd.DataFrame, patient_id: str) -> pd.Series | None:
    try:
        episodes = vitals_episodes(df)
    except ValueError:  # a frame without ground truth (e.g. read back from CSV)
        return None
    mine = episodes[episodes["patient_id"] == patient_id]
    return None if mine.empty else mine.iloc[0]


# The pipeline diagram: topics as boxes (x, y centre), handlers as labelled arrows.
_TOPICS = {
    "vitals": (0.9, 3.0), "vitals.valid": (3.6, 3.0), "vitals.scored": (6.4, 3.0),
    "vitals.assessed": (9.1, 3.0), "vitals.dlq": (0.9, 1.5), "vitals.artefacts": (3.6, 4.4),
    "alerts.news2": (5.6, 0.5), "alerts.anomaly": (7.6, 0.5), "alerts.combined": (9.6, 0.5),
    "alerts.acks": (2.4, 0.5),
}
_FLOWS = (  # from topic, to topic, handler label
    ("vitals", "vitals.valid", "validate"), ("vitals.valid", "vitals.scored", "news2 (batches)"),
    ("vitals.scored", "vitals.assessed", "anomaly"),
    ("vitals", "vitals.dlq", "malformed, 3 attempts"),
    ("vitals", "vitals.artefacts", "validate: impossible values, motion"),
    ("vitals.assessed", "alerts.news2", "news2 policy"),
    ("vitals.assessed", "alerts.anomaly", "anomaly policy"),
    ("vitals.assessed", "alerts.combined", "combined policy"),
    ("alerts.acks", "alerts.news2", "nurse acks (each policy)"),
)
_BOX_W, _BOX_H = 1.75, 0.62


def pipeline_diagram(closed_loop: bool = False,
                     title: str = "The ward monitoring pipeline") -> go.Figure:
    """The ward monitoring pipeline drawn as a figure: each topic a box, each handler an arrow
    labelled with its name (`edalab.health.monitor.WardMonitor`'s wiring); with `closed_loop`,
    the response loop of `edalab.health.closed_loop` too. Sized to read at JupyterLab's
    default width (it scales with the cell, unlike text art).

    >>> fig = pipeline_diagram()
    >>> sorted(a.text for a in fig.layout.annotations if a.showarrow is False)[:3]
    ['<b>alerts.acks</b>', '<b>alerts.anomaly</b>', '<b>alerts.combined</b>']
    >>> "ward.responses" in str(pipeline_diagram(closed_loop=True).layout.annotations)
    True
    """
    topics, flows = dict(_TOPICS), list(_FLOWS)
    if closed_loop:
        topics["ward.responses"] = (9.6, -1.0)
        topics["ward (simulator)"] = (3.2, -1.0)
        flows += [("alerts.combined", "ward.responses", "respond"),
                  ("ward.responses", "ward (simulator)", "treat: the patient recovers")]
    fig = go.Figure()
    for name, (x, y) in topics.items():
        fill = "#e3f2fd" if name.startswith("vitals") else (
            "#fff3e0" if name.startswith("alerts") else "#f3e5f5")
        fig.add_shape(type="rect", x0=x - _BOX_W / 2, x1=x + _BOX_W / 2, y0=y - _BOX_H / 2,
                      y1=y + _BOX_H / 2, fillcolor=fill, line={"color": "#546e7a", "width": 1})
        fig.add_annotation(x=x, y=y, text=f"<b>{name}</b>", showarrow=False,
                           font={"size": 12, "color": "#263238"})
    for source, target, label in flows:
        (x0, y0), (x1, y1) = topics[source], topics[target]
        start, end = _edge(x0, y0, x1, y1), _edge(x1, y1, x0, y0)
        fig.add_annotation(x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=3, arrowsize=1.2,
                           arrowwidth=1.4, arrowcolor="#455a64", text="")
        level = abs(start[1] - end[1]) < 1e-9  # a horizontal arrow: its label above it
        at = 0.5 if level else 0.62  # fanning arrows: labels where they are apart
        fig.add_annotation(x=start[0] + at * (end[0] - start[0]),
                           y=start[1] + at * (end[1] - start[1]), text=label,
                           showarrow=False, font={"size": 11, "color": "#6a1b9a"},
                           yshift=11 if level else 0, bgcolor="rgba(255,255,255,0.85)")
    if closed_loop:  # round the left side, clear of the boxes: the ward's later rounds
        x0, y0 = topics["ward (simulator)"]
        x1, y1 = topics["vitals"]
        side = x1 - _BOX_W / 2 - 0.25
        fig.add_shape(type="path", path=f"M {x0 - _BOX_W / 2} {y0} L {side} {y0} L {side} {y1}",
                      line={"color": "#455a64", "width": 1.4})
        fig.add_annotation(x=x1 - _BOX_W / 2, y=y1, ax=side, ay=y1, xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=3, arrowsize=1.2,
                           arrowwidth=1.4, arrowcolor="#455a64", text="")
        fig.add_annotation(x=(side + x0 - _BOX_W / 2) / 2, y=y0, yshift=11,
                           text="later observations", showarrow=False,
                           font={"size": 11, "color": "#6a1b9a"})
    low = min(y for _, y in topics.values()) - 0.6
    fig.update_xaxes(visible=False, range=[-0.45, 10.7])
    fig.update_yaxes(visible=False, range=[low, 5.0])
    fig.update_layout(showlegend=False, plot_bgcolor="white")
    fig = _layout(fig, title, 420 if closed_loop else 340)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def _edge(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """Where the segment from box centre (x0, y0) towards (x1, y1) leaves the box."""
    dx, dy = x1 - x0, y1 - y0
    scale = min(_BOX_W / 2 / abs(dx) if dx else np.inf, _BOX_H / 2 / abs(dy) if dy else np.inf)
    return x0 + dx * scale, y0 + dy * scale
