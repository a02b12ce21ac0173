"""Static plotly figures of a fraud-detection run: metrics over event time with drift and model
versions, score distributions, decisions per day, a model comparison, and the run's throughput
(`edalab.viz.throughput_and_lag` draws throughput and lag for any run).

Every builder takes a pandas frame (the pipeline's ``metrics()`` / ``predictions()`` /
``decisions()`` frames, or `edalab.viz.events_frame` of a list of events) and returns a
plain `plotly.graph_objects.Figure` built only from its inputs, so a notebook cell or an HTML
report showing one is the same on every run.

>>> from datetime import datetime, timedelta, timezone
>>> from edalab import Event
>>> from edalab.viz import events_frame
>>> t0 = datetime(2018, 4, 1, tzinfo=timezone.utc)
>>> events = [Event("metric", "/metrics", {"name": "roc_auc", "value": v, "n": n,
...                                        "model_version": 1},
...                 time=t0 + timedelta(days=n), id=f"m{n}")
...           for n, v in [(1, 0.61), (2, 0.74), (3, 0.8)]]
>>> fig = metrics_over_time(events_frame(events))
>>> [(t.name, list(t.y)) for t in fig.data]
[('ROC AUC', [0.61, 0.74, 0.8])]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.viz.run_charts import throughput_frame
from edalab.viz.style import color as _color
from edalab.viz.style import iso_times as _iso
from edalab.viz.style import layout as _layout

__all__ = ["DECIMALS", "DECISIONS", "METRIC_LABELS", "comparison_frame", "decision_counts",
           "decisions_over_time", "metrics_over_time", "model_comparison", "score_distribution",
           "throughput_over_time"]

#: How metric names read on a chart (metric events' ``name``, the comparison's columns).
METRIC_LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC", "auc_roc": "ROC AUC", "average_precision": "average precision",
    "card_precision@100": "card precision@100", "card_precision_at_100": "card precision@100",
}
#: The decisions of ``fraud.decision`` events, with their colours (``abstain``: the model had
#: learned no label yet, see `FraudPipeline`'s ``warmup``).
DECISIONS: dict[str, str] = {"approve": "#b0bec5", "abstain": "#d7ccc8", "review": "#ffa15a",
                             "block": "#ef553b"}
#: Decimals of every test-week number, in the tables and on the charts alike.
DECIMALS = 3
_COMPARED = ("auc_roc", "average_precision", "card_precision_at_100")
_DRIFT_LINE = {"color": "#d62728", "dash": "dash", "width": 1}
_VERSION_LINE = {"color": "#2ca02c", "dash": "dot", "width": 1.5}


def metric_label(name: str) -> str:
    """How a metric's name reads on a chart (`METRIC_LABELS`, else underscores as spaces)."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def vertical_lines(times: Sequence, top: float = 1.0) -> tuple[list, list]:
    """x and y of one trace that draws a vertical segment from 0 to `top` at each time."""
    xs: list = []
    ys: list = []
    for t in times:
        xs += [t, t, None]
        ys += [0.0, top, None]
    return xs, ys


def _column(frame: pd.DataFrame, name: str, default: Any = "") -> list:
    return frame[name].tolist() if name in frame else [default] * len(frame)


def metrics_over_time(metrics: pd.DataFrame, models: pd.DataFrame | None = None,
                      names: Sequence[str] | None = None,
                      title: str = "Prequential metrics over event time") -> go.Figure:
    """Each metric against the event time it was computed at, with drift detections and
    model-version changes as vertical lines.

    Labels arrive after their transactions, so a metric at time *t* scores predictions made a
    delay earlier; card precision@k has one point per day, drawn when that day's labels are in.

    Parameters
    ----------
    metrics
        Columns ``time``, ``name``, ``value`` (``metric`` events: `FraudPipeline.metrics()`, or
        `events_frame` of them).
    models
        ``drift.detected`` and ``model.version`` events (columns ``time``, ``type``, and
        ``detector`` / ``version``, ``reason``): `FraudPipeline.models()`, or `events_frame` of
        them. Other types are ignored; the initial model version is not drawn.
    names
        Metrics to draw, in this order (default: every name; those of `METRIC_LABELS` first).
    title
        Figure title.

    Examples
    --------
    >>> t = pd.to_datetime(["2018-04-10", "2018-04-11", "2018-04-12"], utc=True)
    >>> metrics = pd.DataFrame({"time": t, "name": ["roc_auc", "card_precision@100",
    ...                                             "roc_auc"], "value": [0.7, 0.2, 0.8]})
    >>> models = pd.DataFrame({"time": t[1:2], "type": ["drift.detected"],
    ...                        "detector": ["ADWIN"]})
    >>> fig = metrics_over_time(metrics, models)
    >>> [(tr.name, list(tr.x)) for tr in fig.data]  # doctest: +NORMALIZE_WHITESPACE
    [('ROC AUC', ['2018-04-10T00:00:00', '2018-04-12T00:00:00']),
     ('card precision@100', ['2018-04-11T00:00:00']),
     ('drift detected', ['2018-04-11T00:00:00', '2018-04-11T00:00:00', None])]
    """
    if names is None:  # the known metrics first, in the order of METRIC_LABELS
        known = list(METRIC_LABELS)
        names = sorted(dict.fromkeys(metrics["name"]),
                       key=lambda n: known.index(n) if n in known else len(known))
    order = list(names)
    fig = go.Figure()
    for i, name in enumerate(order):
        part = metrics[metrics["name"] == name].sort_values("time", kind="stable")
        daily = "day" in part and bool(part["day"].notna().any())
        fig.add_scatter(name=metric_label(name), x=_iso(part["time"]),
                        y=[float(v) for v in part["value"]],
                        mode="lines+markers", marker={"size": 4 if daily else 6},
                        line={"color": _color(i), "width": 1.5},
                        hovertext=[f"day {d:g}" for d in part["day"]] if daily else None)
    if models is not None:
        add_markers(fig, models)
    fig.update_layout(xaxis_title="event time", yaxis_title="metric")
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, 400)


def add_markers(fig: go.Figure, models: pd.DataFrame, **where: Any) -> go.Figure:
    """Add the drift detections (dashed red) and model-version changes (dotted green) of
    `models` (see `metrics_over_time`) to `fig` as vertical lines from 0 to 1; `where` is
    passed on to ``add_scatter`` (e.g. ``row=1, col=1``)."""
    if "type" not in models:
        raise ValueError(f"models needs a 'type' column (drift.detected / model.version "
                         f"events), got {list(models.columns)}")
    drifts = models[models["type"] == "drift.detected"]
    versions = models[models["type"] == "model.version"]
    if "reason" in versions:
        versions = versions[versions["reason"] != "initial"]
    if len(drifts):
        xs, ys = vertical_lines(_iso(drifts["time"]))
        text = [f"drift: {d}" for d in _column(drifts, "detector")]
        fig.add_scatter(name="drift detected", x=xs, y=ys, mode="lines", line=_DRIFT_LINE,
                        hovertext=[s for s in text for _ in range(3)], hoverinfo="text+x",
                        **where)
    if len(versions):
        xs, ys = vertical_lines(_iso(versions["time"]))
        text = [f"model v{v:g} ({r})" for v, r in zip(_column(versions, "version"),
                                                      _column(versions, "reason"), strict=True)]
        fig.add_scatter(name="model version", x=xs, y=ys, mode="lines", line=_VERSION_LINE,
                        hovertext=[s for s in text for _ in range(3)], hoverinfo="text+x",
                        **where)
    return fig


def score_distribution(predictions: pd.DataFrame, transactions: pd.DataFrame | None = None, *,
                       label: str = "fraud", bins: int = 40,
                       thresholds: Mapping[str, float] | None = None, log: bool = True,
                       title: str = "Scores of fraud and genuine transactions") -> go.Figure:
    """Histograms of the model's scores for genuine and fraudulent transactions, side by side.

    Each class is normalised to percent of its own transactions and each bin's two bars stand
    next to each other (none hides the other), so the rare class is visible; the further apart
    the two shapes, the better the ranking. Decision thresholds are drawn as vertical lines.

    Parameters
    ----------
    predictions
        Column ``score`` (in [0, 1]) and, without `transactions`, `label` (1 fraud, 0 genuine).
    transactions
        The transactions frame: each prediction's truth is the ``TX_FRAUD`` of the
        transaction whose ``TX_ID`` is its ``tx_id`` (as in `FraudPipeline.predictions()`).
    label
        The column of `predictions` holding the truth, when `transactions` is not given.
    bins
        Number of equal-width bins over [0, 1].
    thresholds
        ``{name: score}`` of decision thresholds to mark (e.g. ``{"review": 0.5}``).
    log
        A logarithmic y axis (most genuine scores pile up near 0).
    title
        Figure title.

    Examples
    --------
    >>> predictions = pd.DataFrame({"tx_id": [3, 4, 5, 6], "score": [0.1, 0.2, 0.9, 0.7]})
    >>> tx = pd.DataFrame({"TX_ID": [6, 5, 4, 3], "TX_FRAUD": [0, 1, 0, 0]})
    >>> fig = score_distribution(predictions, tx, bins=2, thresholds={"block": 0.8})
    >>> [(t.name, list(t.x), list(t.y)) for t in fig.data]  # doctest: +NORMALIZE_WHITESPACE
    [('genuine (3)', [0.25, 0.75], [66.667, 33.333]), ('fraud (1)', [0.25, 0.75], [0.0, 100.0])]
    >>> [a.text for a in fig.layout.annotations]
    ['block 0.8']
    """
    if transactions is not None:
        truth_of = transactions.set_index("TX_ID")["TX_FRAUD"]
        missing = ~predictions["tx_id"].isin(truth_of.index)
        if missing.any():
            raise ValueError(f"{int(missing.sum())} predictions have no transaction in "
                             f"`transactions`, e.g. tx_id {predictions['tx_id'][missing].iloc[0]}")
        predictions = predictions.assign(**{label: truth_of.reindex(predictions["tx_id"])
                                            .to_numpy()})
    if "score" not in predictions or label not in predictions:
        raise ValueError(f"predictions need columns 'score' and {label!r}, "
                         f"got {list(predictions.columns)}")
    scored = predictions[predictions["score"].notna()]
    score = np.clip(scored["score"].to_numpy(dtype=float), 0.0, 1.0)
    truth = scored[label].to_numpy()
    edges = np.linspace(0.0, 1.0, bins + 1)
    centers = ((edges[:-1] + edges[1:]) / 2).round(4).tolist()
    fig = go.Figure()
    for name, value, color in (("genuine", 0, DECISIONS["approve"]), ("fraud", 1, "#ef553b")):
        values = score[truth == value]
        counts, _ = np.histogram(values, bins=edges)
        fig.add_bar(name=f"{name} ({values.size:,})", x=centers,
                    y=(100 * counts / max(values.size, 1)).round(3).tolist(),
                    marker_color=color)
    for name, value in (thresholds or {}).items():  # type: ignore[assignment]  # reused name
        fig.add_vline(x=float(value), line={"color": DECISIONS.get(name, "#444"), "dash": "dash"},
                      annotation_text=f"{name} {value:g}", annotation_position="top")
    fig.update_layout(barmode="group", bargap=0.15, bargroupgap=0.0, xaxis_title="score",
                      yaxis_title="% of the class")
    if log:  # one tick a decade: the minor ticks' labels are too small to read
        fig.update_yaxes(type="log", dtick=1)
    return _layout(fig, title, 360)


def decision_counts(decisions: pd.DataFrame, freq: str = "1D") -> pd.DataFrame:
    """Decisions per period: one row per period start (UTC), one column per decision.

    Examples
    --------
    >>> t = pd.to_datetime(["2018-04-01 10:00", "2018-04-01 11:00", "2018-04-03 09:00"],
    ...                    utc=True)
    >>> decision_counts(pd.DataFrame({"time": t, "decision": ["approve", "block", "review"]}))
                approve  abstain  review  block
    2018-04-01        1        0       0      1
    2018-04-02        0        0       0      0
    2018-04-03        0        0       1      0
    """
    unknown = set(decisions["decision"]) - set(DECISIONS)
    if unknown:
        raise ValueError(f"unknown decisions {sorted(unknown)}; expected {list(DECISIONS)}")
    times = pd.DatetimeIndex(pd.to_datetime(decisions["time"], utc=True)).tz_localize(None)
    period = times.floor(freq)
    counts = pd.crosstab(period, decisions["decision"].to_numpy()).reindex(
        columns=list(DECISIONS), fill_value=0)
    if len(counts):
        counts = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq=freq),
                                fill_value=0)
    counts.index.name = counts.columns.name = None
    return counts.astype(int)


def decisions_over_time(decisions: pd.DataFrame, freq: str = "1D",
                        title: str = "Decisions per day") -> go.Figure:
    """Decisions per period in two rows on one time axis, each with its own y axis: the
    alerts (review and block, stacked), the work the thresholds send to the fraud team, above
    the transactions let through (approve, and abstain while the model had learned no label).

    Parameters
    ----------
    decisions
        Columns ``time`` and ``decision`` (one of `DECISIONS`), e.g. the pipeline's
        ``decisions`` frame.
    freq
        Width of a period (a pandas offset).
    title
        Figure title.

    Examples
    --------
    >>> t = pd.to_datetime(["2018-04-01 10:00", "2018-04-01 11:00", "2018-04-02 09:00"],
    ...                    utc=True)
    >>> fig = decisions_over_time(pd.DataFrame({"time": t,
    ...                                         "decision": ["abstain", "block", "review"]}))
    >>> [(tr.name, list(tr.y), tr.yaxis) for tr in fig.data]  # doctest: +NORMALIZE_WHITESPACE
    [('review', [0, 1], 'y'), ('block', [1, 0], 'y'), ('approve', [0, 0], 'y2'),
     ('abstain (no label learned yet)', [1, 0], 'y2')]
    """
    counts = decision_counts(decisions, freq)
    x = _iso(counts.index)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, names in ((1, ("review", "block")), (2, ("approve", "abstain"))):
        for name in names:
            label = "abstain (no label learned yet)" if name == "abstain" else name
            fig.add_bar(name=label, x=x, y=counts[name].tolist(), marker_color=DECISIONS[name],
                        row=row, col=1)
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_yaxes(title_text="alerts per day", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="let through per day", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="event time", row=2, col=1)
    return _layout(fig, title, 480)


def throughput_over_time(timeline: pd.DataFrame, points: int = 100,
                         title: str = "Throughput over the run") -> go.Figure:
    """Source events published per wall second against the app's clock, each rate held over
    the interval it was measured in, with a gap where nothing was published (the run was
    draining); the summed lag of the handlers as a second row only when it was ever above 0.

    Parameters
    ----------
    timeline
        ``RunStats.timeline`` of a run.
    points
        At most this many intervals (see `edalab.viz.throughput_frame`).
    title
        Figure title.

    Examples
    --------
    >>> timeline = pd.DataFrame({"step": [1, 2, 3], "wall_seconds": [1.0, 2.0, 3.0],
    ...                          "clock": pd.to_datetime(["2018-04-01", "2018-04-02",
    ...                                                   "2018-04-03"]),
    ...                          "published": [100, 100, 400], "stream": ["a"] * 3,
    ...                          "lag": [0, 0, 0]})
    >>> fig = throughput_over_time(timeline)
    >>> [(t.name, t.y, t.line.shape) for t in fig.data]  # no lag row: it was always 0
    [('events/s', (100.0, None, 300.0), 'vh')]
    """
    frame = throughput_frame(timeline, points)
    lagged = bool((frame["lag"] > 0).any())
    fig = make_subplots(rows=2 if lagged else 1, cols=1, shared_xaxes=True,
                        vertical_spacing=0.1)
    rate = [None if v != v else round(float(v), 1) for v in frame["events_per_s"]]
    # "vh": a rate covers the interval that ends at its point, from the point before it.
    fig.add_scatter(name="events/s", x=_iso(frame["clock"]), y=rate, mode="lines",
                    line={"color": _color(0), "width": 1.5, "shape": "vh"},
                    connectgaps=False, row=1, col=1)
    fig.update_yaxes(title_text="events/s (wall)", rangemode="tozero", row=1, col=1)
    if lagged:
        fig.add_scatter(name="lag", x=_iso(frame["clock"]), y=[int(v) for v in frame["lag"]],
                        mode="lines", line={"color": _color(1), "width": 1.5, "shape": "hv"},
                        row=2, col=1)
        fig.update_yaxes(title_text="lag (events)", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="app clock", row=2 if lagged else 1, col=1)
    fig.update_layout(showlegend=lagged)
    return _layout(fig, title, 420 if lagged else 300)


def comparison_frame(results: pd.DataFrame | Sequence[Mapping[str, Any]],
                     published: Mapping[str, float] | str | None = "handbook",
                     published_name: str = "handbook LR (published)") -> pd.DataFrame:
    """The test-week results of several models as one table, with the handbook's published
    numbers as a last row marked ``source="published"`` (every other row is ``"computed"``).

    Parameters
    ----------
    results
        One row per model (e.g. `edalab.fraud.handbook.batch_baseline` results): ``model``,
        ``auc_roc``, ``average_precision``, ``card_precision_at_100``, and optionally ``kind``
        (``"batch"`` / ``"event-driven"``) and ``learn_per_s``; other columns are left out.
    published
        Published reference values to append: ``"handbook"`` (default) for the book's
        logistic regression, `edalab.fraud.handbook.HANDBOOK_LR`, quoted from the book; a
        mapping of your own; or None for none. Not appended when `results` has a ``source``
        column with a ``"published"`` row already.
    published_name
        The model name of the published row.

    Examples
    --------
    >>> rows = [{"model": "lr", "kind": "event-driven", "auc_roc": 0.86,
    ...          "average_precision": 0.6, "card_precision_at_100": 0.28}]
    >>> comparison_frame(rows).reset_index()[["model", "kind", "auc_roc", "source"]]
                         model          kind  auc_roc     source
    0                       lr  event-driven    0.860   computed
    1  handbook LR (published)         batch    0.871  published
    """
    frame = pd.DataFrame(list(results) if not isinstance(results, pd.DataFrame) else results)
    if "model" not in frame and frame.index.name == "model":
        frame = frame.reset_index()
    missing = [c for c in ("model", *_COMPARED) if c not in frame]
    if missing:
        raise ValueError(f"results lack columns {missing}")
    keep = ["model", *[c for c in ("kind",) if c in frame], *_COMPARED,
            *[c for c in ("learn_per_s", "source") if c in frame]]
    frame = frame[keep]
    # A table made here already (e.g. `comparison_frame(...).reset_index()`) keeps its sources.
    frame = frame.assign(source=frame["source"].fillna("computed") if "source" in frame
                         else "computed")
    if (frame["source"] == "published").any():
        published = None
    if isinstance(published, str):
        if published != "handbook":
            raise ValueError(f"published must be 'handbook', a mapping or None, "
                             f"got {published!r}")
        from edalab.fraud.handbook import HANDBOOK_LR  # scikit-learn: imported when needed

        published = HANDBOOK_LR
    if published is not None:
        row = {"model": published_name, "kind": "batch", **published, "source": "published"}
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    return frame.set_index("model")


def model_comparison(results: pd.DataFrame | Sequence[Mapping[str, Any]],
                     published: Mapping[str, float] | str | None = "handbook",
                     title: str = "Test week: models compared") -> go.Figure:
    """Grouped bars: ROC AUC, average precision and card precision@100 of each model on the
    test week; the handbook's published numbers (hatched, grey) are a reference, not a run.
    Each number is rounded once, to `DECIMALS`, as the report's table shows it.

    Parameters
    ----------
    results
        As for `comparison_frame`.
    published
        As for `comparison_frame` (default: the handbook's published numbers).
    title
        Figure title.

    Examples
    --------
    >>> rows = [{"model": "batch LR", "auc_roc": 0.87, "average_precision": 0.61,
    ...          "card_precision_at_100": 0.29}]
    >>> fig = model_comparison(rows)
    >>> [(t.name, list(t.y)) for t in fig.data]
    [('batch LR', [0.87, 0.61, 0.29]), ('handbook LR (published)', [0.871, 0.606, 0.291])]
    >>> fig.data[1].marker.pattern.shape
    '/'
    """
    frame = comparison_frame(results, published)
    x = [metric_label(c) for c in _COMPARED]
    fig = go.Figure()
    for i, (model, row) in enumerate(frame.iterrows()):
        y = [round(float(row[c]), DECIMALS) for c in _COMPARED]
        if row["source"] == "published":
            marker = {"color": "#bdbdbd", "pattern": {"shape": "/"}}
        else:
            marker = {"color": _color(i)}
        fig.add_bar(name=str(model), x=x, y=y, marker=marker,
                    text=[f"{v:.{DECIMALS}f}" for v in y],
                    textposition="outside")
    fig.update_layout(barmode="group", yaxis_title="test week", xaxis_title="metric")
    fig.update_yaxes(range=[0, 1.08])
    return _layout(fig, title, 400)
