"""The closed loop: a page calls a response team, and a timely response averts the emergency.

In the open loop (`WardMonitor` on a `edalab.streams.vitals` ward) the pages change nothing:
every deterioration runs to its adverse event, and a method is scored by how long before it
it paged. In the closed loop the ward answers:

::

    ward ──vitals──▶ WardMonitor ──▶ alerts.<method> ──respond──▶ ward.responses ──ward──┐
      ▲                                                                                   │
      └──────────── a treated patient recovers: later observations change ────────────────┘

- ``respond`` turns each page into a ``ward.response`` event, timed `response_time` after
  the page (the team's arrival);
- ``ward`` is the simulator's side: a response to a patient whose episode has begun and not
  yet reached its adverse event treats it (`edalab.streams.vitals` ``responses=``): from then
  on the episode's changes fade, its adverse event does not happen, and the observations
  not yet published are those of the treated patient (the stream is produced as it is
  consumed, one round at a time).

A policy is then scored by **adverse events prevented** against its **alarm burden** (pages per
nurse-hour): `compare_closed_loop` runs each method in its own closed loop on the same ward
(same seed) and sets the adverse events it prevented beside the open loop's.

>>> run = closed_loop(dict(patients=12, hours=24, seed=3), "news2", response_time="30min")
>>> run.open_adverse_events, run.adverse_events, run.prevented
(2, 0, 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.health.alerts import METHODS, PAGES
from edalab.health.monitor import WardMonitor
from edalab.health.scoring import ward_exposure
from edalab.runtime.stats import RunStats
from edalab.streams.vitals import vitals, vitals_episodes, vitals_events, vitals_params

__all__ = ["ClosedLoopRun", "LiveWard", "closed_loop", "compare_closed_loop"]


class LiveWard:
    """A `vitals` ward produced as it is consumed, which responses can change.

    `events` yields the observations one round at a time; `respond` (the ``ward`` handler)
    records a response, and the rounds not yet yielded are simulated again with it (same
    seed: the rounds already yielded are unchanged).
    """

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.frame = vitals(**params)
        self.episodes = vitals_episodes(self.frame)
        self.responses: dict[str, pd.Timestamp] = {}
        self.ignored = 0  # responses that found nothing to treat
        self._changed = False
        self._onset = dict(zip(self.episodes["patient_id"], self.episodes["onset"],
                               strict=True))

    def respond(self, event: Event) -> None:
        """Handle a ``ward.response`` event: the first response to a deteriorating patient
        treats them; one before their onset (or to a patient with no episode) finds nothing."""
        patient, when = event.key, pd.Timestamp(event.time)
        onset = self._onset.get(patient)
        if onset is None or when < onset or patient in self.responses:
            self.ignored += 1
            return
        self.responses[patient] = when  # type: ignore[index]
        self._changed = True

    def events(self) -> Iterator[Event]:
        """The observations in time order, one round (a batch of ``patients``) at a time."""
        position, size = 0, int(self.params.get("patients", 20))
        while position < len(self.frame):
            if self._changed:
                self.frame = vitals(**self.params, responses=self.responses)
                self._changed = False
            chunk = self.frame.iloc[position:position + size]
            position += len(chunk)
            yield from vitals_events(chunk)


@dataclass
class ClosedLoopRun:
    """The result of one closed loop: the monitor, the ward as it went, and the counts."""

    method: str
    response_time: pd.Timedelta
    monitor: WardMonitor
    ward: pd.DataFrame
    stats: RunStats
    open_adverse_events: int  # in the same ward with nobody responding
    adverse_events: int  # with the responses
    responses: int  # ward.response events
    pages_per_nurse_hour: float

    @property
    def prevented(self) -> int:
        """Adverse events the responses averted."""
        return self.open_adverse_events - self.adverse_events


def _responder(method: str, delay: pd.Timedelta):
    lag = delay.to_pytimedelta()

    def respond(event: Event) -> list[Event]:
        if event.type not in PAGES:
            return []
        return [Event("ward.response", "/edalab/ward/team",
                      {"patient_id": event.key, "page": event.id,
                       "level": event.data.get("level")},
                      key=event.key, time=event.time + lag, id=f"response-{event.id}")]
    respond.__name__ = f"respond_{method}"
    return respond


def _params(ward: Mapping[str, Any] | pd.DataFrame) -> dict[str, Any]:
    return vitals_params(ward) if isinstance(ward, pd.DataFrame) else dict(ward)


def closed_loop(ward: Mapping[str, Any] | pd.DataFrame, method: str = "combined", *,
                response_time: str | pd.Timedelta = "30min", patients_per_nurse: float = 8.0,
                **monitor_options: Any) -> ClosedLoopRun:
    """Run `method` in a closed loop on the ward `vitals(**ward)` (seeded: reproducible), or
    on the ward a `vitals` frame was simulated as.

    `response_time` is the time from a page to the team's response; `monitor_options` go to
    `WardMonitor`. The run is virtual-clock, polled one round of observations at a time.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    delay = parse_duration(response_time, name="response_time", allow_zero=True)
    live = LiveWard(**_params(ward))
    monitor = WardMonitor(methods=(method,), **monitor_options)
    app = monitor.app
    app.handler(f"alerts.{method}", group="respond", output="ward.responses")(
        _responder(method, delay))

    def ward_side(event: Event) -> None:
        live.respond(event)
    app.handler("ward.responses", group="ward")(ward_side)
    monitor.feed(live.events())
    patients = int(live.params.get("patients", 20))
    stats = monitor.run(batch_size=patients)
    monitor.ward = live.frame
    before = live.episodes["adverse_event"].notna().sum()
    after = vitals_episodes(live.frame)["adverse_event"].notna().sum()
    n_patients, hours = ward_exposure(live.frame)
    pages = monitor.alerts(method)["type"].isin(PAGES).sum()
    return ClosedLoopRun(
        method=method, response_time=delay, monitor=monitor, ward=live.frame, stats=stats,
        open_adverse_events=int(before), adverse_events=int(after),
        responses=len(monitor._events("ward.responses")),
        pages_per_nurse_hour=round(int(pages) / (hours * n_patients / patients_per_nurse), 4))


def compare_closed_loop(ward: Mapping[str, Any] | pd.DataFrame, methods: Sequence[str] = METHODS, *,
                        response_time: str | pd.Timedelta = "30min",
                        **monitor_options: Any) -> pd.DataFrame:
    """Each method in its own closed loop on the same ward: adverse events without and with
    the responses, prevented, and the alarm burden that bought them.

    >>> table = compare_closed_loop(dict(patients=12, hours=24, seed=3), ("news2",))
    >>> table.loc["news2"].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'open_loop_adverse_events': 2.0, 'adverse_events': 0.0, 'prevented': 2.0, 'pages': 4.0,
     'pages_per_nurse_hour': 0.1111}
    """
    rows = []
    for method in methods:
        run = closed_loop(ward, method, response_time=response_time, **monitor_options)
        rows.append({"method": method, "open_loop_adverse_events": run.open_adverse_events,
                     "adverse_events": run.adverse_events, "prevented": run.prevented,
                     "pages": int(run.monitor.alerts(method)["type"].isin(PAGES).sum()),
                     "pages_per_nurse_hour": run.pages_per_nurse_hour})
    return pd.DataFrame(rows).set_index("method")
