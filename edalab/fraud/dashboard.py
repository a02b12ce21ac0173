"""`FraudDashboard`: a live plotly dashboard of a fraud pipeline, driven from the notebook.

A `plotly.graph_objects.FigureWidget` (it needs the ``anywidget`` package) inside an ipywidgets
layout, with controls: a play button (an `ipywidgets.Play` whose every tick advances the
pipeline one chunk, so the kernel is free between ticks and it runs in a browser), the speed
(events per tick), the decision thresholds (`FraudPipeline.set_threshold`) and the model (a new
pipeline, from the start). It follows `FraudPipeline.stream`: metrics (ROC AUC, average
precision, card precision@k), drift detections and model versions, the day's alerts (review
and block decisions), the payments scored but not labelled yet, and the pipeline's throughput.
Redraws happen inside ``fig.batch_update()`` at most every `redraw_s` seconds, and always for
the last step.

Without a browser (nbval, a script), `advance` and `run_to_end` run the stream synchronously,
without waiting for wall time, and the dashboard shows the result when displayed. Play on a
finished run replays it live from the first event on a fresh pipeline (from `make_pipeline`),
at a pace that makes the replay last about `replay_s` seconds. Its text form is a one-line
summary with no random ids, so a notebook cell that ends with the dashboard gives the same
text on every run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.events import Event
from edalab.fraud.charts import DECISIONS, metric_label
from edalab.viz.live import LiveDashboard, default_replay_s
from edalab.viz.style import TEMPLATE, count_axis
from edalab.viz.style import color as _color
from edalab.viz.style import iso_times as _iso

__all__ = ["FraudDashboard"]

_METRICS = ("roc_auc", "average_precision", "card_precision@100")
_SNAPSHOT_EVENTS = ("metrics", "decisions", "models")


def _iso1(t: datetime) -> str:
    return _iso([t])[0]


class FraudDashboard(LiveDashboard):
    """A live dashboard of a fraud pipeline: metrics, alerts, drift, labels pending and
    throughput.

    Parameters
    ----------
    make_pipeline
        ``make_pipeline(model_name) -> FraudPipeline``: builds a fresh pipeline for a model
        name (called again when the model is changed).
    models
        Model names offered in the dropdown; the first is run first.
    chunk
        Source events per pipeline step (``stream(every=chunk, batch_size=chunk)`` up to
        1,000); a tick or `advance` takes whole steps.
    speed
        Source events per play tick, at first (a slider changes it). Once a run has finished,
        the pace of a replay comes from `replay_s`, unless the slider was moved.
    thresholds
        ``(review, block)`` score thresholds, passed to each new pipeline's
        ``set_threshold`` (default: the first pipeline's own ``thresholds``).
    interval_ms
        Milliseconds between play ticks.
    redraw_s
        Least wall time between two redraws (the last step is always drawn).
    replay_s
        About how long, in seconds, Play takes to replay a finished run (default:
        ``$EDALAB_REPLAY_S``, else 20).
    metrics
        Metric names (of ``metric`` events) drawn, in this order.

    Examples
    --------
    A stand-in pipeline shows the interface the dashboard drives (a real one is
    `edalab.fraud.FraudPipeline`):

    >>> from datetime import datetime, timedelta, timezone
    >>> from types import SimpleNamespace
    >>> from edalab import Event
    >>> t0 = datetime(2018, 4, 1, tzinfo=timezone.utc)
    >>> class Tiny:
    ...     thresholds = {"review": 0.5, "block": 0.9}
    ...     def set_threshold(self, review, block):
    ...         self.thresholds = {"review": review, "block": block}
    ...     def stream(self, every, batch_size):
    ...         for i in range(3):
    ...             t = t0 + timedelta(days=i)
    ...             stats = SimpleNamespace(source_events=every * (i + 1), final_lag=0,
    ...                                     steps=[(i, 0.0, t, 0, {})])
    ...             yield SimpleNamespace(stats=stats, metrics=[
    ...                 Event("metric", "/m", {"name": "roc_auc", "value": 0.5 + i / 10}, time=t)])
    >>> dashboard = FraudDashboard(lambda model: Tiny(), models=["lr"], chunk=10)
    >>> dashboard.run_to_end()
    FraudDashboard(model='lr', events=30, finished, alerts=0, drifts=0, model versions=0)
    >>> list(dashboard.figure.data[0].y)
    [0.5, 0.6, 0.7]
    >>> dashboard.set_threshold(0.3, 0.8)
    >>> dashboard.pipeline.thresholds
    {'review': 0.3, 'block': 0.8}
    """

    def __init__(self, make_pipeline: Callable[[str], Any], *,
                 models: Sequence[str] = ("lr", "hoeffding", "arf", "hst"),
                 chunk: int = 200, speed: int = 200,
                 thresholds: tuple[float, float] | None = None,
                 interval_ms: int = 250, redraw_s: float = 0.2, replay_s: float | None = None,
                 metrics: Sequence[str] = _METRICS, title: str = "Fraud detection, live"):
        if not callable(make_pipeline):
            raise TypeError(f"make_pipeline must be callable (model name -> pipeline), "
                            f"got {make_pipeline!r}")
        models = list(models)
        if not models:
            raise ValueError("models must name at least one model")
        if chunk < 1 or speed < 1:
            raise ValueError(f"chunk and speed must be >= 1, got chunk={chunk}, speed={speed}")
        replay_s = default_replay_s() if replay_s is None else replay_s
        if not replay_s > 0:
            raise ValueError(f"replay_s must be > 0 seconds, got {replay_s}")
        if thresholds is not None:
            self._check_thresholds(thresholds)
        self.make_pipeline = make_pipeline
        self.models = models
        self.chunk = int(chunk)
        self.redraw_s = float(redraw_s)
        self.replay_s = float(replay_s)
        self.metric_names = list(metrics)
        self.title = title
        self._thresholds = None if thresholds is None else tuple(float(t) for t in thresholds)
        self.redraws = 0  # how often the figure was redrawn (bounded by `redraw_s`)
        self.figure = self._figure()
        self._fit_width(self.figure)
        self._controls(speed, interval_ms)
        self.widget = self._layout()
        self._start(models[0])

    # -- the widgets ---------------------------------------------------------------------------

    def _figure(self) -> go.FigureWidget:
        fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                            row_heights=[0.4, 0.2, 0.2, 0.2],
                            subplot_titles=("Prequential metrics", "Alerts per day",
                                            "Payments scored, awaiting their label",
                                            "Pipeline throughput"))
        for i, name in enumerate(self.metric_names):
            fig.add_scatter(name=metric_label(name), x=[], y=[], mode="lines", legend="legend",
                            line={"color": _color(i), "width": 1.5}, row=1, col=1)
        fig.add_scatter(name="drift detected", x=[], y=[], mode="lines", legend="legend",
                        line={"color": "#d62728", "dash": "dash", "width": 1}, row=1, col=1)
        fig.add_scatter(name="new model version", x=[], y=[], mode="lines", legend="legend",
                        line={"color": "#2ca02c", "dash": "dot", "width": 1.5}, row=1, col=1)
        for name in ("review", "block"):
            fig.add_bar(name=name, x=[], y=[], marker_color=DECISIONS[name], legend="legend2",
                        row=2, col=1)
        fig.add_scatter(name="awaiting label", x=[], y=[], mode="lines", showlegend=False,
                        line={"color": "#8d6e63", "width": 1.5, "shape": "hv"}, row=3, col=1)
        fig.add_scatter(name="events/s", x=[], y=[], mode="lines+markers", showlegend=False,
                        line={"color": "#455a64", "width": 1.5}, marker={"size": 3},
                        row=4, col=1)
        fig.update_yaxes(range=[0, 1.02], title_text="score (0–1)", row=1, col=1)
        fig.update_yaxes(title_text="payments / day", row=2, col=1, **count_axis(0))
        fig.update_yaxes(title_text="payments", row=3, col=1, **count_axis(0))
        fig.update_yaxes(title_text="events / s", rangemode="tozero", row=4, col=1)
        fig.update_xaxes(title_text="event time (UTC)", row=4, col=1)
        # One legend per subplot that has several traces, beside it.
        legends = {}
        for key, axis in (("legend", "yaxis"), ("legend2", "yaxis2")):
            top = fig.layout[axis].domain[1]
            legends[key] = {"x": 1.01, "xanchor": "left", "y": top, "yanchor": "top",
                            "font": {"size": 11}}
        fig.add_annotation(text="waiting for events: press ▶ to run the stream",
                           name="waiting", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font={"size": 15, "color": "#555"})
        fig.update_layout(barmode="stack", template=TEMPLATE, height=760, title=self.title,
                          autosize=True, margin={"l": 70, "r": 150, "t": 70, "b": 50},
                          **legends)
        widget = go.FigureWidget(fig)
        n = len(self.metric_names)
        self._traces = {"drift": widget.data[n], "version": widget.data[n + 1],
                        "review": widget.data[n + 2], "block": widget.data[n + 3],
                        "pending": widget.data[n + 4], "rate": widget.data[n + 5]}
        self._empty: bool | None = None
        return widget

    def _controls(self, speed: int, interval_ms: int) -> None:
        import ipywidgets as w

        self._play_controls(speed, interval_ms)
        self.model = w.Dropdown(options=self.models, value=self.models[0], description="model")
        self.status = w.HTML()
        self.model.observe(self._on_model, "value")
        self.threshold = w.FloatRangeSlider(
            value=self._thresholds or (0.0, 1.0), min=0.0, max=1.0, step=0.01,
            readout_format=".2f", description="review, block", continuous_update=False,
            style={"description_width": "initial"})
        self.threshold.observe(self._on_threshold, "value")

    def _layout(self) -> Any:
        import ipywidgets as w

        row = [self.play, self.speed, self.model, self.threshold]
        return w.VBox([w.HBox(row), self.status, self.figure])

    # -- running -------------------------------------------------------------------------------

    def _start(self, model: str) -> None:
        """A fresh pipeline for `model`, and empty charts."""
        old = getattr(self, "_steps", None)
        if old is not None:
            old.close()
        self.model_name = model
        self.pipeline = self.make_pipeline(model)
        if self._thresholds is None:
            own = self.pipeline.thresholds
            self._thresholds = (float(own["review"]), float(own["block"]))
            self.threshold.value = self._thresholds  # its observer passes them on: a no-op
        else:
            self.pipeline.set_threshold(*self._thresholds)
        self._steps: Iterator[Any] | None = iter(self.pipeline.stream(
            every=self.chunk, batch_size=min(self.chunk, 1000)))
        self.finished = False
        self.stats: Any = None
        self.events = 0
        self._busy = 0.0
        self._metrics: dict[str, tuple[list, list]] = {n: ([], []) for n in self.metric_names}
        self._drifts: list[str] = []
        self._versions: list[str] = []
        self._alerts: Counter = Counter()
        self._rate: tuple[list, list] = ([], [])
        self._pending: tuple[list, list] = ([], [])
        self._busy_at_last = 0.0
        self._last_draw = float("-inf")
        self._draw(force=True)

    def _step(self) -> bool:
        started = time.perf_counter()
        try:
            snapshot = next(self._steps)  # type: ignore[arg-type]  # set while it runs
        except StopIteration:
            return False
        self._busy += time.perf_counter() - started
        self._take(snapshot)
        return True

    def _rebuild(self) -> bool:
        self._start(self.model_name)
        return True

    def set_threshold(self, review: float, block: float) -> None:
        """Change the decision thresholds (the slider does this): the pipeline's next
        decisions use them."""
        self._check_thresholds((review, block))
        self._thresholds = (float(review), float(block))
        self.pipeline.set_threshold(*self._thresholds)
        if tuple(self.threshold.value) != self._thresholds:
            self.threshold.value = self._thresholds

    def restart(self, model: str | None = None) -> None:
        """Start again from the first event, with `model` (default: the current one)."""
        model = self.model_name if model is None else model
        if model not in self.models:
            raise ValueError(f"model must be one of {self.models}, got {model!r}")
        self.play.playing = False
        if self.model.value != model:
            self.model.value = model  # its observer restarts
            return
        self._start(model)
        self.play.value = 0

    @staticmethod
    def _check_thresholds(thresholds: Iterable[float]) -> None:
        review, block = thresholds
        if not 0.0 <= review <= block <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= review <= block <= 1, "
                             f"got review={review}, block={block}")

    # -- callbacks -----------------------------------------------------------------------------

    def _on_threshold(self, change: Mapping[str, Any]) -> None:
        self.set_threshold(*change["new"])

    def _on_model(self, change: Mapping[str, Any]) -> None:
        self.play.playing = False
        self._start(change["new"])
        self.play.value = 0

    # -- folding snapshots into the charts' data -------------------------------------------------

    def _take(self, snapshot: Any) -> None:
        stats = getattr(snapshot, "stats", snapshot)
        self.stats = stats
        before, self.events = self.events, int(stats.source_events)
        for event in _snapshot_events(snapshot):
            kind = event.type
            if kind == "metric":
                series = self._metrics.get(event.data.get("name"))
                if series is not None and event.data.get("value") is not None:
                    series[0].append(_iso1(event.time))
                    series[1].append(float(event.data["value"]))
            elif kind == "fraud.decision":
                decision = event.data.get("decision")
                if decision in ("review", "block"):
                    self._alerts[(_iso1(event.time)[:10], decision)] += 1
            elif kind == "drift.detected":
                self._drifts.append(_iso1(event.time))
            elif kind == "model.version" and event.data.get("reason") != "initial":
                self._versions.append(_iso1(event.time))
        steps = getattr(stats, "steps", None)
        if steps:
            t = _iso1(steps[-1][2])
            x, rate = self._rate
            seconds = self._busy - self._busy_at_last
            x.append(t)  # no time measured: a gap in the line, not a line across it
            rate.append(round((self.events - before) / seconds, 1) if seconds > 0 else None)
            pending = _awaiting_labels(self.pipeline)
            if pending is not None:
                self._pending[0].append(t)
                self._pending[1].append(pending)
        self._busy_at_last = self._busy

    def _redraw(self) -> None:
        self.redraws += 1
        days = sorted({day for day, _ in self._alerts})
        with self.figure.batch_update():
            for trace, name in zip(self.figure.data, self.metric_names, strict=False):
                trace.x, trace.y = self._metrics[name]
            for key, times in (("drift", self._drifts), ("version", self._versions)):
                xs, ys = [], []
                for t in times:
                    xs += [t, t, None]
                    ys += [0.0, 1.0, None]
                self._traces[key].x, self._traces[key].y = xs, ys
            for name in ("review", "block"):
                self._traces[name].x = days
                self._traces[name].y = [self._alerts[(d, name)] for d in days]
            self._traces["rate"].x, self._traces["rate"].y = self._rate
            self._traces["pending"].x, self._traces["pending"].y = self._pending
            top = max([self._alerts[(d, n)] for d in days for n in ("review", "block")],
                      default=0)
            self.figure.update_yaxes(count_axis(top), row=2, col=1)
            self.figure.update_yaxes(count_axis(max(self._pending[1], default=0)), row=3,
                                     col=1)
            self._show_empty(not self._rate[0] and not any(x for x, _ in
                                                           self._metrics.values()))
        self.status.value = self._status_html()

    def _show_empty(self, empty: bool) -> None:
        """Before the first event: no axes, and a line saying the dashboard waits."""
        if empty == self._empty:
            return
        self._empty = empty
        self.figure.update_xaxes(visible=not empty)
        self.figure.update_yaxes(visible=not empty)
        self.figure.update_annotations(visible=empty, selector={"name": "waiting"})

    def _sync_views(self) -> None:
        self.figure._repr_mimebundle_()

    def _figures(self) -> list[Any]:
        return [self.figure]

    # -- showing -------------------------------------------------------------------------------

    @property
    def alerts(self) -> int:
        """Review and block decisions so far."""
        return sum(self._alerts.values())

    def _status_html(self) -> str:
        rate = (f" · {self.events / self._busy:,.0f} events/s of pipeline time"
                if self._busy > 0 else "")
        lag = getattr(self.stats, "final_lag", None)
        lag = "" if lag is None else f" · consumer lag {lag:,}"
        return (f"<b>{self.model_name}</b> · {self.events:,} events · {self.state} · "
                f"{_count(self.alerts, 'alert')} · {_count(len(self._drifts), 'drift')} · "
                f"{_count(len(self._versions), 'new model version')}{lag}{rate}")

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return (f"FraudDashboard(model={self.model_name!r}, events={self.events}, {state}, "
                f"alerts={self.alerts}, drifts={len(self._drifts)}, "
                f"model versions={len(self._versions)})")


def _count(n: int, noun: str) -> str:
    """``1 drift``, ``2 drifts``, ``2,483 alerts``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _awaiting_labels(pipeline: Any) -> int | None:
    """Payments the pipeline's classifier has scored and holds until their label arrives
    (None for a pipeline without one)."""
    stats = getattr(getattr(pipeline, "classifier", None), "stats", None)
    buffered = getattr(stats, "buffered", None)
    return None if buffered is None else int(buffered)


def _snapshot_events(snapshot: Any) -> Iterator[Event]:
    """The new events a `FraudPipeline.stream` snapshot carries, whatever list holds them."""
    for name in _SNAPSHOT_EVENTS:
        events = getattr(snapshot, name, None)
        if events:
            yield from events
