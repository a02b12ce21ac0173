"""`WardDashboard`: a live dashboard of a monitored ward, driven from the notebook.

Three views of a `edalab.health.WardMonitor` while its stream runs:

- the **ward**: one row per patient, one column per hour, coloured by the worst NEWS2 response
  level of the hour (the rightmost column is the current one), with the latest NEWS2 as text;
- the **patient**: a selector (an `ipywidgets.Dropdown`) and that patient's vital signs over
  time, NEWS2 over its shaded response bands, and a marker at every page;
- the **alert feed** (under them): the latest alerts of one method (raised, escalated,
  acknowledged, resolved), newest first.

The dashboard is a consumer like any other: it adds two sink handlers to the monitor's `App`
(on ``vitals.assessed`` and ``alerts.<method>``), so it sees exactly what the alert policies
see, on any broker. The charts are plotly `FigureWidget`\\ s (they need ``anywidget``) in an
ipywidgets layout; an `ipywidgets.Play` advances the stream a chunk per tick
(`WardMonitor.stream`), and redraws happen inside ``fig.batch_update()`` at most every
`redraw_s` seconds, and always after the last step. Without a browser (nbval, a script),
`advance` and `run_to_end` run synchronously, without waiting for wall time; the text form is a
one-line summary with no random ids.

Built from a function that makes a monitor, the dashboard can run again: Play on a finished run
replays the ward from its first observation on a fresh monitor, paced to last about `replay_s`
seconds. A monitor given as it is runs once.

>>> from edalab.health import WardMonitor
>>> from edalab.streams import vitals
>>> ward = vitals(patients=4, hours=12, seed=3)
>>> dashboard = WardDashboard(lambda: WardMonitor(methods=("combined",)).feed(ward), chunk=50)
>>> dashboard.run_to_end()
WardDashboard(method='combined', patient='p000', events=192, finished, patients=4, alerts=0)
>>> len(dashboard.ward.data[0].y), len(dashboard.patient.data[0].x)
(4, 48)
>>> dashboard.replay()  # what Play does on a finished run
True
>>> dashboard.events, dashboard.state
(0, 'ready')
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edalab.events import Event
from edalab.health.alerts import LEVELS, PAGES
from edalab.health.charts import LEVEL_COLORS
from edalab.health.validation import VECTOR
from edalab.viz.live import LiveDashboard, default_replay_s
from edalab.viz.style import TEMPLATE, count_axis
from edalab.viz.style import color as _color
from edalab.viz.style import iso_times as _iso

__all__ = ["WardDashboard"]

#: The vital signs drawn for a patient: (name, subplot row); one unit per row.
VITALS = (("pulse", 1), ("respiration_rate", 1), ("systolic_bp", 2), ("spo2", 3),
          ("temperature", 4))
#: The patient view's rows: (title of the y axis, its unit).
_ROWS = ("per minute", "systolic BP (mmHg)", "SpO₂ (%)", "temperature (°C)", "NEWS2 (points)")
_LABELS = {"pulse": "pulse (beats/min)", "respiration_rate": "respiration (breaths/min)",
           "systolic_bp": "systolic BP", "spo2": "SpO₂", "temperature": "temperature"}
_COLUMNS = tuple((name, VECTOR.index(name), row) for name, row in VITALS)
_LEVEL = {name: i for i, name in enumerate(LEVELS)}
_BANDS = ((0, 4, LEVEL_COLORS[0]), (4, 6, LEVEL_COLORS[2]), (6, 20, LEVEL_COLORS[3]))
_ALERT_COLORS = {"alert.raised": "#d62728", "alert.escalated": "#6a1b9a",
                 "alert.acknowledged": "#1f77b4", "alert.resolved": "#2ca02c"}


class _Patient:
    """One patient's series, as the dashboard draws them."""

    __slots__ = ("alerts", "level", "news2", "time", "values")

    def __init__(self) -> None:
        self.time: list[str] = []
        self.values: list[list] = [[] for _ in _COLUMNS]
        self.news2: list[int | None] = []
        self.level: list[str] = []
        self.alerts: list[tuple[str, str, str, Any]] = []  # time, type, level, news2


class WardDashboard(LiveDashboard):
    """A live ward: levels per patient and hour, one patient's vitals, the alert feed.

    Parameters
    ----------
    monitor
        A function that makes a `edalab.health.WardMonitor` fed a ward (called again for a
        replay), or such a monitor, not run yet (it runs once).
    method
        Whose alerts are drawn and listed (one of ``monitor.methods``; default the last).
    chunk
        Source events per stream step (``monitor.stream(every=chunk)``).
    speed
        Source events per play tick.
    feed
        Alerts listed in the feed.
    interval_ms
        Milliseconds between play ticks.
    redraw_s
        Least wall time between two redraws (the last step is always drawn).
    replay_s
        About how long, in seconds, Play takes to replay a finished run (default:
        ``$EDALAB_REPLAY_S``, else 20).
    """

    def __init__(self, monitor: Any, *, method: str | None = None, chunk: int = 100,
                 speed: int = 100, feed: int = 12, interval_ms: int = 300,
                 redraw_s: float = 0.25, replay_s: float | None = None,
                 title: str = "Ward, live") -> None:
        self._make: Callable[[], Any] | None = None
        if callable(monitor) and not hasattr(monitor, "app"):
            self._make, monitor = monitor, monitor()
        methods = tuple(getattr(monitor, "methods", ()))
        method = method or (methods[-1] if methods else None)
        if method not in methods:
            raise ValueError(f"method must be one of the monitor's methods {methods}, "
                             f"got {method!r}")
        if chunk < 1 or speed < 1 or feed < 1:
            raise ValueError(f"chunk, speed and feed must be >= 1, got chunk={chunk}, "
                             f"speed={speed}, feed={feed}")
        replay_s = default_replay_s() if replay_s is None else replay_s
        if not replay_s > 0:
            raise ValueError(f"replay_s must be > 0 seconds, got {replay_s}")
        if _consumed(monitor):
            raise ValueError("this WardMonitor has already run its stream, so a dashboard "
                             "on it would stay empty: give the dashboard a function that "
                             "makes a fresh monitor, e.g. "
                             "WardDashboard(lambda: WardMonitor().feed(ward))")
        self.method: str = method  # type: ignore[assignment]  # one of the monitor's methods
        self.chunk = int(chunk)
        self.feed_size = int(feed)
        self.redraw_s = float(redraw_s)
        self.replay_s = float(replay_s)
        self.title = title
        self.note = ""  # why the dashboard cannot do what was asked, in words
        self._wanted: str | None = None  # the patient the reader chose
        self.ward = self._ward_figure()
        self.patient = self._patient_figure()
        self._fit_width(self.ward, self.patient)
        self._controls(speed, interval_ms)
        self.widget = self._layout()
        self._attach(monitor)

    def _attach(self, monitor: Any) -> None:
        """Follow `monitor` from its first observation, on empty charts."""
        self.monitor = monitor
        self.patients: dict[str, _Patient] = {}
        self.alerts: list[Event] = []
        self._hours: dict[tuple[str, str], int] = {}  # (patient, hour) -> worst level
        self._latest: dict[str, Any] = {}  # patient -> latest NEWS2 (partial if incomplete)
        app = monitor.app
        app.handler("vitals.assessed", group="dashboard")(_named(self._on_assessed,
                                                                 "dashboard_vitals"))
        app.handler(f"alerts.{self.method}", group="dashboard")(_named(self._on_alert,
                                                                       "dashboard_alerts"))
        self.events = 0
        self.finished = False
        self.stats: Any = None
        self._steps: Iterator[Any] | None = None
        self._last_draw = float("-inf")
        self._draw(force=True)

    def _rebuild(self) -> bool:
        if self._make is None:
            self.note = ("this dashboard was given a monitor, whose stream is consumed: to "
                         "replay, build it from a function that makes a fresh monitor, e.g. "
                         "WardDashboard(lambda: WardMonitor().feed(ward))")
            return False
        self.note = ""
        self._attach(self._make())
        return True

    # -- sinks: the dashboard's own consumer groups ----------------------------------------------

    def _on_assessed(self, event: Event) -> None:
        data = event.data
        patient: str = event.key  # type: ignore[assignment]  # keyed by patient
        series = self.patients.get(patient)
        if series is None:
            series = self.patients[patient] = _Patient()
        t = _iso([event.time])[0]
        series.time.append(t)
        values = data["values"]
        for column, (_, i, _) in zip(series.values, _COLUMNS, strict=True):
            column.append(values[i])
        news2 = data["news2"]
        series.news2.append(news2)
        series.level.append(data["level"])
        key = (patient, t[:13])
        level = _LEVEL[data["level"]]
        if level > self._hours.get(key, -1):
            self._hours[key] = level
        self._latest[patient] = news2 if news2 is not None else f"≥{data['partial']}"

    def _on_alert(self, event: Event) -> None:
        self.alerts.append(event)
        series = self.patients.get(event.key)  # type: ignore[arg-type]  # keyed by patient
        if series is not None:
            series.alerts.append((_iso([event.time])[0], event.type, event.data.get("level"),
                                  event.data.get("news2")))

    # -- the widgets ---------------------------------------------------------------------------

    def _ward_figure(self) -> go.FigureWidget:
        steps = len(LEVELS)
        scale = [[pos, c] for i, c in enumerate(LEVEL_COLORS)
                 for pos in (i / steps, (i + 1) / steps)]
        fig = go.Figure(go.Heatmap(
            z=[], x=[], y=[], zmin=-0.5, zmax=steps - 0.5, colorscale=scale, xgap=1, ygap=1,
            texttemplate="%{text}", textfont={"size": 11},
            colorbar={"tickvals": list(range(steps)), "ticktext": list(LEVELS), "len": 0.9,
                      "title": {"text": "worst level"}}))
        fig.add_annotation(text="waiting for observations: press ▶ to run the ward",
                           name="waiting", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font={"size": 15, "color": "#555"})
        fig.update_layout(template=TEMPLATE, height=360, autosize=True,
                          title="Ward: worst NEWS2 level per patient and hour "
                          "(number: the hour's last NEWS2)",
                          margin={"l": 60, "r": 20, "t": 50, "b": 40},
                          yaxis={"autorange": "reversed", "title": "patient"},
                          xaxis={"title": "hour (UTC)"})
        return go.FigureWidget(fig)

    def _patient_figure(self) -> go.FigureWidget:
        fig = make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                            row_heights=[0.22, 0.17, 0.17, 0.17, 0.27])
        for i, (name, row) in enumerate(VITALS):
            fig.add_scatter(name=_LABELS[name], x=[], y=[], mode="lines",
                            line={"color": _color(i), "width": 1.5}, row=row, col=1,
                            legend="legend", showlegend=row == 1)
        fig.add_scatter(name="NEWS2", x=[], y=[], mode="lines", legend="legend2",
                        line={"color": "black", "width": 1.5, "shape": "hv"}, row=5, col=1)
        fig.add_scatter(name="page", x=[], y=[], mode="markers", row=5, col=1,
                        legend="legend2",
                        marker={"symbol": "triangle-down", "size": 11, "color": "#d62728"})
        fig.add_scatter(name="acknowledged / resolved", x=[], y=[], mode="markers", row=5,
                        col=1, legend="legend2",
                        marker={"symbol": "circle-open", "size": 9, "color": "#2ca02c"})
        for lo, hi, color in _BANDS:
            fig.add_hrect(y0=lo - 0.5 if lo == 0 else lo + 0.5, y1=hi + 0.5, fillcolor=color,
                          line_width=0, layer="below", row=5, col=1)
        for row, title in enumerate(_ROWS, start=1):
            fig.update_yaxes(title_text=title, title_font={"size": 11}, row=row, col=1)
        fig.update_yaxes(range=[-0.5, 12], row=5, col=1, **{
            k: v for k, v in count_axis(12).items() if k != "rangemode"})
        fig.update_xaxes(title_text="time (UTC)", row=5, col=1)
        legends = {key: {"orientation": "h", "x": 0, "xanchor": "left",
                         "y": fig.layout[axis].domain[1], "yanchor": "bottom",
                         "font": {"size": 11}, "bgcolor": "rgba(255,255,255,0.7)"}
                   for key, axis in (("legend", "yaxis"), ("legend2", "yaxis5"))}
        fig.update_layout(template=TEMPLATE, height=640, autosize=True,
                          margin={"l": 70, "r": 20, "t": 70, "b": 50}, **legends)
        return go.FigureWidget(fig)

    def _controls(self, speed: int, interval_ms: int) -> None:
        import ipywidgets as w

        self._play_controls(speed, interval_ms)
        self.selector = w.Dropdown(options=[], description="patient")
        self.status = w.HTML()
        self.feed = w.HTML(layout=w.Layout(min_width="330px"))
        self.selector.observe(self._on_patient, "value")

    def _layout(self) -> Any:
        import ipywidgets as w

        feed = w.HTML(f"<b>Alert feed ({html.escape(self.method)}), newest first</b>")
        # One column, so each chart has the whole width of the output area.
        return w.VBox([w.HBox([self.play, self.speed]), self.status, self.ward,
                       self.selector, self.patient, feed, self.feed])

    # -- running -------------------------------------------------------------------------------

    def _step(self) -> bool:
        if self._steps is None:
            self._steps = iter(self.monitor.stream(every=self.chunk,
                                                   batch_size=min(self.chunk, 1000)))
        try:
            self.stats = next(self._steps)
        except StopIteration:
            return False
        self.events = int(self.stats.source_events)
        if self.stats.stopped_by != "running":
            self.finished = True
        return True

    def select(self, patient: str) -> None:
        """Show `patient` in the patient view (the dropdown does this)."""
        if patient not in self.patients:
            raise ValueError(f"no observations of patient {patient!r} yet; seen "
                             f"{sorted(self.patients)[:5]}...")
        if self.selector.value != patient:
            self.selector.value = patient  # its observer redraws
        else:
            self._draw_patient()

    # -- callbacks -----------------------------------------------------------------------------

    def _on_patient(self, change: Mapping[str, Any]) -> None:
        if change["new"] is not None:
            self._wanted = change["new"]  # kept through a replay
            self._draw_patient()

    # -- drawing -------------------------------------------------------------------------------

    def _redraw(self) -> None:
        names = sorted(self.patients)
        if list(self.selector.options) != names:
            wanted = self._wanted if self._wanted in names else self.selector.value
            self.selector.options = names
            self.selector.value = wanted if wanted in names else (names[0] if names
                                                                  else None)
        self._draw_ward(names)
        self._draw_patient()
        self.feed.value = self._feed_html()
        self.status.value = self._status_html()

    def _sync_views(self) -> None:
        for fig in self._figures():
            fig._repr_mimebundle_()

    def _figures(self) -> list[Any]:
        return [self.ward, self.patient]

    def _draw_ward(self, names: list[str]) -> None:
        hours = sorted({h for _, h in self._hours})
        z = [[self._hours.get((p, h)) for h in hours] for p in names]
        last: dict[tuple[str, str], Any] = {}
        for p in names:
            series = self.patients[p]
            for t, n2 in zip(series.time, series.news2, strict=True):
                last[(p, t[:13])] = n2
        text = [["" if last.get((p, h)) is None else str(last[(p, h)]) for h in hours]
                for p in names]
        with self.ward.batch_update():
            empty = not names
            self.ward.update_xaxes(visible=not empty)
            self.ward.update_yaxes(visible=not empty)
            self.ward.update_annotations(visible=empty, selector={"name": "waiting"})
            heat = self.ward.data[0]
            heat.x = [f"{h}:00" for h in hours]
            heat.y = names
            heat.z = z
            heat.text = text
            self.ward.layout.height = max(300, 16 * len(names) + 120)

    def _draw_patient(self) -> None:
        patient = self.selector.value
        series = self.patients.get(patient) if patient is not None else None
        data = self.patient.data
        with self.patient.batch_update():
            self.patient.update_xaxes(visible=series is not None)
            self.patient.update_yaxes(visible=series is not None)
            if series is None:
                for trace in data:
                    trace.x, trace.y = [], []
                self.patient.layout.title = "Patient: waiting for observations"
                return
            for trace, column in zip(data, series.values, strict=False):
                trace.x, trace.y = series.time, column
            data[len(VITALS)].x, data[len(VITALS)].y = series.time, series.news2
            pages = [a for a in series.alerts if a[1] in PAGES]
            others = [a for a in series.alerts if a[1] not in PAGES]
            top = max([n for n in series.news2 if n is not None], default=0)
            for trace, alerts in ((data[-2], pages), (data[-1], others)):
                trace.x = [a[0] for a in alerts]
                trace.y = [top + 1] * len(alerts)
                trace.hovertext = [f"{a[1][6:]}: {a[2]}" for a in alerts]
            self.patient.layout.title = (f"Patient {patient}: vitals, NEWS2 and "
                                         f"{self.method} alerts ({len(pages)} pages)")
            self.patient.layout.yaxis5.range = [-0.5, max(12, top + 2)]

    def _feed_html(self) -> str:
        if not self.alerts:
            return "<i>no alerts yet</i>"
        rows = []
        for e in reversed(self.alerts[-self.feed_size:]):
            color = _ALERT_COLORS.get(e.type, "#333")
            rows.append(f"<tr><td>{_iso([e.time])[0][5:16].replace('T', ' ')}</td>"
                        f"<td>{html.escape(str(e.key))}</td>"
                        f"<td style='color:{color}'>{html.escape(e.type[6:])}</td>"
                        f"<td>{html.escape(str(e.data.get('level')))}</td>"
                        f"<td>{'' if e.data.get('news2') is None else e.data['news2']}</td></tr>")
        return ("<table style='font-size:12px'><tr><th>time</th><th>patient</th><th>alert</th>"
                "<th>level</th><th>NEWS2</th></tr>" + "".join(rows) + "</table>")

    def _status_html(self) -> str:
        active = len(self.monitor.policies[self.method].active())
        pages = sum(e.type in PAGES for e in self.alerts)
        note = f"<br><b>{html.escape(self.note)}</b>" if self.note else ""
        return (f"{self.events:,} observation sets · {self.state} · "
                f"{len(self.patients)} patients · {pages} pages ({self.method}) · "
                f"{active} alerts active{note}")

    # -- showing -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return (f"WardDashboard(method={self.method!r}, patient={self.selector.value!r}, "
                f"events={self.events}, {state}, patients={len(self.patients)}, "
                f"alerts={len(self.alerts)})")


def _consumed(monitor: Any) -> bool:
    """Whether `monitor` has run already: its source topic holds observations."""
    broker = monitor.app.broker
    return "vitals" in broker.topics() and sum(broker.end_offsets("vitals")) > 0


def _named(fn: Any, name: str) -> Any:
    def handler(event: Event) -> None:
        fn(event)
    handler.__name__ = name
    return handler
