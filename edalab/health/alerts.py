"""`AlertPolicy`: from scored observations to pages, following NEWS2's clinical response levels.

Each assessed observation (NEWS2 plus the patient's anomaly score, see
`edalab.health.monitor`) gives a candidate level: ``routine`` (no page), ``ward review`` (a
single parameter scoring 3, or, for the anomaly methods, the vitals drifting from the patient's
own baseline), ``urgent`` (NEWS2 5-6) or ``emergency`` (NEWS2 7 or more). The policy turns
candidates into a few events per patient:

- ``alert.raised``: a candidate above routine held for `confirm` consecutive observations
  (an emergency pages at once); ``alert.escalated`` when a higher level is confirmed later.
  These two are the *pages* a nurse receives.
- de-duplication: while an alert is active, observations at or below its level page nobody;
- hysteresis: the alert resolves (``alert.resolved``) only after `clear` of routine
  observations, so a score bouncing around a threshold does not page again and again;
- ``alert.acknowledged`` when a nurse acknowledges the patient's alert (an ``alert.ack``
  event).

Three methods are compared:

- ``news2``: NEWS2's levels alone;
- ``anomaly``: the anomaly score alone (a score of at least `page` means ward review);
- ``combined``: NEWS2 and the patient's own baseline together. A NEWS2 level is *corroborated*
  when the patient was already drifting from their baseline at the previous observation
  (anomaly score at least `corroborate` there, or the baseline is still warming up): it pages
  as NEWS2 alone would (an emergency at once, a lower level after `confirm` observations). A
  NEWS2 level the baseline does not support (a chronic high reading, one parameter jumping in
  one reading) is held: an emergency needs `confirm` observations in a row (an artefact is
  gone by the next reading), a lower level `uncorroborated` observations. With NEWS2 routine,
  an anomaly score of at least `page` held for `persist` means ward review: anomaly-only
  pages only when strong and persistent.

>>> from datetime import datetime, timedelta, timezone
>>> from edalab.events import Event
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> def obs(i, news2):
...     return Event("vitals.assessed", "/m", {"patient_id": "p1", "news2": news2,
...                  "partial": news2, "red": False, "level": level_of(news2, False),
...                  "score": 0.0}, key="p1", time=t0 + timedelta(minutes=15 * i), id=f"o{i}")
>>> policy = AlertPolicy("news2", confirm=2, clear="1h")
>>> pages = [(e.type, e.data["level"]) for i, s in enumerate([1, 5, 6, 5, 7, 2, 1, 1, 1, 1, 1])
...          for e in policy.test(obs(i, s))]
>>> pages
[('alert.raised', 'urgent'), ('alert.escalated', 'emergency'), ('alert.resolved', 'routine')]
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event, EventError
from edalab.operators.base import Operator

__all__ = ["LEVELS", "METHODS", "PAGES", "AlertPolicy", "level_of"]

#: Clinical response levels, lowest first (NEWS2 risk low, low-medium, medium, high).
LEVELS = ("routine", "ward review", "urgent", "emergency")
#: The alerting methods `AlertPolicy` implements.
METHODS = ("news2", "anomaly", "combined")
#: Alert event types that page a nurse.
PAGES = ("alert.raised", "alert.escalated")
_ROUTINE, _WARD, _URGENT, _EMERGENCY = range(4)
_INDEX = {name: i for i, name in enumerate(LEVELS)}


def level_of(total: float | None, red: bool) -> str:
    """The response level of a NEWS2 total (or partial total) and red flag.

    >>> level_of(3, False), level_of(3, True), level_of(5, False), level_of(9, True)
    ('routine', 'ward review', 'urgent', 'emergency')
    """
    if total is not None and total >= 7:
        return "emergency"
    if total is not None and total >= 5:
        return "urgent"
    return "ward review" if red else "routine"


class AlertPolicy(Operator):
    """Escalation with de-duplication, hysteresis and acknowledgement, per patient.

    Parameters
    ----------
    method
        ``"news2"``, ``"anomaly"`` or ``"combined"`` (see the module docstring).
    confirm
        Consecutive observations a candidate level must hold before it pages (an emergency
        pages at once).
    clear
        How long a patient's observations must stay routine before the alert resolves.
    corroborate
        Anomaly score that corroborates a NEWS2 level (combined method).
    page
        Anomaly score that means ward review on its own (anomaly and combined methods).
    uncorroborated
        Consecutive observations an uncorroborated NEWS2 ward review or urgent level must
        hold (combined method).
    persist
        How long the anomaly score must stay at or above `page` before it pages on its own
        (combined method).
    warmup
        Observations of a patient before their anomaly score counts (until then the combined
        method treats NEWS2 as corroborated, and the anomaly method cannot page).
    source
        Source of the alert events.

    A fresh policy's ``test(events)`` runs it over a whole ward's assessed events with no
    broker: cheap enough to sweep thresholds.

    Examples
    --------
    >>> AlertPolicy("combined", page=5.0)
    AlertPolicy('combined', confirm=2, clear='0 days 01:00:00', corroborate=3.0, page=5.0,
                uncorroborated=6, persist='0 days 00:30:00')
    """

    def __init__(self, method: str = "combined", *, confirm: int = 2,
                 clear: str | timedelta | pd.Timedelta = "1h", corroborate: float = 3.0,
                 page: float = 4.0, uncorroborated: int = 6,
                 persist: str | timedelta | pd.Timedelta = "30min", warmup: int = 12,
                 source: str = "/edalab/health/alerts") -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if confirm < 1 or uncorroborated < 1 or warmup < 0:
            raise ValueError("confirm and uncorroborated must be >= 1, warmup >= 0")
        self.method = method
        self.confirm = int(confirm)
        self.clear = parse_duration(clear, name="clear", allow_zero=True)
        self.corroborate = float(corroborate)
        self.page = float(page)
        self.uncorroborated = int(uncorroborated)
        self.persist = parse_duration(persist, name="persist", allow_zero=True)
        self.warmup = int(warmup)
        self.source = source
        self._clear = self.clear.to_pytimedelta()
        self._persist = self.persist.to_pytimedelta()
        # patient -> [active level, streak, routine since, acknowledged, observations seen,
        #             previous anomaly score, strong anomaly since]
        self._state: dict[str, list] = {}
        self._events = self._alerts = 0
        self.__name__ = f"alerts_{method}"

    def __repr__(self) -> str:
        return (f"AlertPolicy({self.method!r}, confirm={self.confirm}, clear={str(self.clear)!r}, "
                f"corroborate={self.corroborate}, page={self.page}"
                + (f",\n            uncorroborated={self.uncorroborated}, "
                   f"persist={str(self.persist)!r})" if self.method == "combined" else ")"))

    def candidate(self, level: str, score: float, warm: bool, previous: float = 0.0,
                  strong_for: timedelta | None = None) -> tuple[int, int]:
        """The candidate level (index into `LEVELS`) of one observation, and how many
        consecutive observations it needs before it pages.

        `previous` is the patient's anomaly score at the previous observation, `strong_for`
        how long the score has been at or above `page` (None: it is not)."""
        n2 = _INDEX[level]
        if self.method == "news2":
            return n2, 1 if n2 == _EMERGENCY else self.confirm
        if self.method == "anomaly":
            return (_WARD if warm and score >= self.page else _ROUTINE), self.confirm
        if n2 > _ROUTINE:
            if not warm or previous >= self.corroborate:
                return n2, 1 if n2 == _EMERGENCY else self.confirm
            return n2, self.confirm if n2 == _EMERGENCY else self.uncorroborated
        if warm and strong_for is not None and strong_for >= self._persist:
            return _WARD, 1
        return _ROUTINE, 1

    @property
    def stats(self) -> dict[str, int]:
        """Observations handled, alert events emitted (acknowledgements not counted),
        patients seen, patients with an active alert."""
        return {"events": self._events, "alerts": self._alerts, "patients": len(self._state),
                "active": sum(1 for s in self._state.values() if s[0])}

    def process(self, event: Event) -> list[Event]:
        data = event.data
        try:
            patient, level, score = data["patient_id"], data["level"], data["score"]
        except (KeyError, TypeError):
            raise EventError("data", "an assessed observation needs patient_id, level and "
                                     "score") from None
        if level not in _INDEX:
            raise EventError("data", f"level must be one of {LEVELS}, got {level!r}")
        state = self._state.get(patient)
        if state is None:
            state = self._state[patient] = [_ROUTINE, 0, None, False, 0, 0.0, None]
        self._events += 1
        state[4] += 1
        warm = state[4] > self.warmup
        strong_for = None
        if warm and score >= self.page:
            if state[6] is None:
                state[6] = event.time
            strong_for = event.time - state[6]
        else:
            state[6] = None
        previous, state[5] = state[5], score
        cand, need = self.candidate(level, score, warm, previous, strong_for)
        active = state[0]
        if cand > active:
            state[1] += 1
            state[2] = None
            if state[1] >= need:
                kind = "alert.escalated" if active else "alert.raised"
                state[0], state[1], state[3] = cand, 0, False
                return [self._alert(kind, event, cand, active)]
            return []
        state[1] = 0
        if not active:
            return []
        if cand > _ROUTINE:
            state[2] = None
            return []
        if state[2] is None:
            state[2] = event.time
        if event.time - state[2] >= self._clear:
            state[0], state[2] = _ROUTINE, None
            return [self._alert("alert.resolved", event, _ROUTINE, active)]
        return []

    def _alert(self, kind: str, event: Event, level: int, previous: int) -> Event:
        self._alerts += 1
        data = event.data
        return Event(kind, self.source, {
            "patient_id": data["patient_id"], "method": self.method, "level": LEVELS[level],
            "previous": LEVELS[previous], "news2": data.get("news2"),
            "score": round(float(data["score"]), 3)},
            key=event.key, time=event.time, id=f"{self.method}-{kind[6:]}-{event.id}")

    def acknowledge(self, event: Event) -> list[Event]:
        """Handle an ``alert.ack`` event (key or data ``patient_id``; an optional data
        ``method`` restricts it to one policy): the patient's active alert is acknowledged."""
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("method") not in (None, self.method):
            return []
        patient = event.key or data.get("patient_id")
        state = self._state.get(patient)  # type: ignore[arg-type]  # None finds no state
        if state is None or not state[0] or state[3]:
            return []
        state[3] = True
        return [Event("alert.acknowledged", self.source, {
            "patient_id": patient, "method": self.method, "level": LEVELS[state[0]],
            "by": data.get("by")}, key=patient, time=event.time, id=f"{self.method}-ack-"
                                                                     f"{event.id}")]

    def active(self) -> dict[str, str]:
        """Patients with an active alert, and its level."""
        return {p: LEVELS[s[0]] for p, s in self._state.items() if s[0]}
