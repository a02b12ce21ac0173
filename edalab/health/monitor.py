"""The ward monitoring pipeline: validation, streaming NEWS2, per-patient anomaly detection,
alert policies, all as handlers of one `App`.

::

    vitals ──validate──▶ vitals.valid ──news2──▶ vitals.scored ──anomaly──▶ vitals.assessed
       │                 vitals.artefacts                                      │
       └─▶ vitals.dlq (malformed events)             alerts.<method> ◀──alert policies (one
                                                           ▲              consumer group each)
                                                 alerts.acks (nurse acknowledgements)

`News2Operator` scores validated observation sets (one at a time, or a polled batch at once,
vectorised); `PatientBaseline` is a river anomaly detector of a patient's drift from their own
baseline, run per patient by `edalab.ml.anomaly.AnomalyDetector`; `WardMonitor` wires them.

>>> from edalab.streams import vitals
>>> ward = vitals(patients=6, hours=6, seed=2)
>>> monitor = WardMonitor().feed(ward)
>>> stats = monitor.run()
>>> stats.source_events, monitor.quality()["observations"]
(144, 144)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import pandas as pd
from river import stats as rstats
from river.base import AnomalyDetector as RiverAnomalyDetector

from edalab.events import Event, EventError
from edalab.health.alerts import LEVELS, METHODS, PAGES, AlertPolicy
from edalab.health.news2 import (
    PARAMETERS,
    news2_points,
    news2_row_points,
    risk_code,
    risk_codes,
)
from edalab.health.validation import Validator
from edalab.ml.anomaly import AnomalyDetector
from edalab.operators.base import Operator
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats
from edalab.state import State
from edalab.streams.frames import events_frame
from edalab.streams.sized import sized
from edalab.streams.vitals import vitals_events

__all__ = ["FEATURES", "News2Operator", "PatientBaseline", "WardMonitor", "news2_values"]

#: The vital signs the anomaly detector watches, and the direction deterioration moves them.
FEATURES = {"respiration_rate": 1, "spo2": -1, "systolic_bp": -1, "pulse": 1, "temperature": 1}
_FLOORS = {"respiration_rate": 1.0, "spo2": 1.0, "systolic_bp": 5.0, "pulse": 3.0,
           "temperature": 0.2}
_FEATURE_INDEX = tuple((name, PARAMETERS.index(name)) for name in FEATURES)
_LEVEL_NAMES = np.array(LEVELS, dtype=object)
_DATA = attrgetter("data")
_VALUES = itemgetter("values")
_unchecked, _derived = Event._unchecked, Event._derived


def news2_values(values: list) -> tuple[int | None, int, bool]:
    """NEWS2 (scale 1) of one validated vector (`edalab.health.validation.VECTOR` order,
    None for missing): the total (None if incomplete), the partial total of the values
    present, and whether any parameter scores 3.

    >>> news2_values([22.0, 95.0, 0.0, 105.0, 95.0, 0.0, 38.3])
    (6, 6, False)
    >>> news2_values([22.0, None, 0.0, 105.0, 95.0, 1.0, 38.3])
    (None, 8, True)
    """
    points = news2_row_points(values)
    try:
        total = sum(points)  # type: ignore[arg-type]  # a None raises: incomplete
    except TypeError:  # a None: incomplete
        partial = sum([p for p in points if p is not None])
        return None, partial, 3 in points
    return total, total, 3 in points


class News2Operator(Operator):
    """Streaming NEWS2: validated observation sets in, scored observation sets out.

    Each ``vitals.validated`` event becomes a ``vitals.scored`` event with the same key, time
    and id and the data plus ``news2`` (the total, None if a value is missing), ``partial``
    (the points of the values present: a lower bound), ``red`` and ``level`` (the clinical
    response level of `edalab.health.alerts.LEVELS`, from the partial total when incomplete).
    SpO2 is scored on scale 1. `process` scores one event; `process_batch` (also named
    `batch`) scores a polled batch with numpy and gives the same events (`WardMonitor` runs
    it as a batch handler).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> e = Event("vitals.validated", "/v", {"patient_id": "p1", "carried": [],
    ...           "values": [26.0, 90.0, 1.0, 95.0, 118.0, 1.0, None]}, key="p1", time=t)
    >>> op = News2Operator()
    >>> [scored] = op.test(e)
    >>> d = scored.data
    >>> d["news2"], d["partial"], d["red"], d["level"]
    (None, 15, True, 'emergency')
    >>> op.process_batch([e])[0].data == d, op.stats
    (True, {'events': 2})
    """

    def __init__(self, source: str = "/edalab/health/news2") -> None:
        self.source = source
        self.__name__ = "news2"
        self._events = 0

    def __repr__(self) -> str:
        return f"News2Operator(source={self.source!r})"

    @property
    def stats(self) -> dict[str, int]:
        """Observation sets scored."""
        return {"events": self._events}

    def process(self, event: Event) -> list[Event]:
        data = event.data
        try:
            values = data["values"]
        except (KeyError, TypeError):
            raise EventError("data", "a validated observation needs 'values'") from None
        total, partial, red = news2_values(values)
        self._events += 1
        return [_unchecked("vitals.scored", self.source,
                           {**data, "news2": total, "partial": partial, "red": red,
                            "level": LEVELS[risk_code(partial, red)]},
                           event.key, event.time, event.id)]

    @staticmethod
    def score_events(events: list[Event]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The vectorised scoring of a batch: (partial totals, complete, red) arrays."""
        return score_matrix(values_matrix(list(map(_DATA, events))))

    def process_batch(self, events: list[Event]) -> list[Event]:
        """Score a polled batch at once: the values are gathered into one matrix, scored with
        numpy, and the results attached as Python lists; gives `process`'s events.

        This is the function an `App` batch handler runs (``batch=True``); a batch holding a
        malformed event raises `EventError`, and `App` then reruns it one event at a time.
        """
        if not events:
            return []
        datas = list(map(_DATA, events))
        partial, complete, red = score_matrix(values_matrix(datas))
        codes = risk_codes(partial, red)
        totals = partial.astype(object)
        totals[~complete] = None
        self._events += len(events)
        return _derived("vitals.scored", self.source, [
            dict(d, news2=n, partial=p, red=r, level=lv) for d, n, p, r, lv in zip(
                datas, totals.tolist(), partial.tolist(), red.tolist(),
                _LEVEL_NAMES[codes].tolist(), strict=True)], events)

    batch = process_batch  # the name `edalab bench health` times it by


def values_matrix(datas: list) -> np.ndarray:
    """The ``values`` of a batch's data as an (n, 7) float matrix (None: NaN)."""
    try:
        x = np.array(list(map(_VALUES, datas)), dtype=float)
    except (KeyError, TypeError, ValueError):
        raise EventError("data", "a validated observation needs 'values': 7 numbers or "
                                 "nulls") from None
    if x.ndim != 2 or x.shape[1] != 7:
        raise EventError("data", "a validated observation needs 'values': 7 numbers or nulls")
    return x


def score_matrix(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(partial totals, complete, red) of an (n, 7) matrix of validated vectors."""
    points = news2_points(x)
    missing = np.isnan(points)
    points[missing] = 0
    return points.sum(axis=1).astype(np.int64), ~missing.any(axis=1), (points == 3).any(axis=1)


class PatientBaseline(RiverAnomalyDetector):
    """A river anomaly detector of one patient's drift from their own baseline.

    The baseline is the running mean and variance of each vital sign (`river.stats.Var`);
    the current level is an exponentially weighted mean of the latest readings
    (`river.stats.EWMean`, damping measurement noise). The score is the length of the vector of
    standardised deviations, counting each sign only in the direction deterioration moves it
    (`FEATURES`: respiration and pulse up, SpO2 and blood pressure down, temperature up), so a
    patient getting better does not alarm. The score is 0 until `warmup` observations are
    learnt, and an observation scoring at least `freeze_above` does not enter the baseline, so
    a slow deterioration is not learnt as the new normal.

    Parameters
    ----------
    warmup
        Observations learnt before the detector scores.
    smoothing
        Weight of the newest reading in the current level (1: no smoothing).
    freeze_above
        Score from which observations are kept out of the baseline.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> det = PatientBaseline(warmup=20)
    >>> for _ in range(100):
    ...     det.learn_one({"pulse": rng.gauss(75, 3), "respiration_rate": rng.gauss(16, 1)})
    >>> round(det.score_one({"pulse": 76.0, "respiration_rate": 16.0}), 2)
    0.41
    >>> round(det.score_one({"pulse": 100.0, "respiration_rate": 24.0}), 1)
    6.0
    """

    def __init__(self, warmup: int = 12, smoothing: float = 0.5, freeze_above: float = 3.0):
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.warmup = warmup
        self.smoothing = smoothing
        self.freeze_above = freeze_above
        self._var: dict[str, rstats.Var] = {}
        self._level: dict[str, float] = {}
        self._n = 0
        self._scored: tuple[dict | None, float] = (None, 0.0)  # score_one then learn_one

    @property
    def ready(self) -> bool:
        return self._n >= self.warmup

    def _current(self, name: str, value: float) -> float:
        old = self._level.get(name)
        return value if old is None else old + self.smoothing * (value - old)

    def score_one(self, x: dict) -> float:
        if self._n < self.warmup:
            return 0.0
        total = 0.0
        for name, value in x.items():
            var = self._var.get(name)
            if var is None or var.mean.n < 2:
                continue
            std = max(math.sqrt(var.get()), _FLOORS.get(name, 0.0))
            z = (self._current(name, value) - var.mean.get()) / std * FEATURES.get(name, 1)
            if z > 0:
                total += z * z
        score = math.sqrt(total)
        self._scored = (x, score)
        return score

    def learn_one(self, x: dict) -> None:
        seen, score = self._scored
        frozen = self._n >= self.warmup and (
            score if seen is x else self.score_one(x)) >= self.freeze_above
        for name, value in x.items():
            self._level[name] = self._current(name, value)
            if not frozen:
                var = self._var.get(name)
                if var is None:
                    var = self._var[name] = rstats.Var()
                var.update(value)
        self._n += 1


def _features(event: Event) -> dict:
    values = event.data["values"]
    return {name: values[i] for name, i in _FEATURE_INDEX if values[i] is not None}


class WardMonitor:
    """The monitoring pipeline on an `App`: feed it a ward, run it, read the results
    (`assessed`, `alerts`, `artefacts`, ...), as `edalab.fraud.FraudPipeline`.

    Parameters
    ----------
    methods
        Alert policies to run side by side (each in its own consumer group on
        ``vitals.assessed``, writing ``alerts.<method>``).
    carry_forward
        Validation's carry-forward limit (`edalab.health.validation.Validator`).
    warmup
        Observations per patient before the anomaly score counts.
    corroborate, page, confirm, clear, uncorroborated, persist
        Alert policy settings (`edalab.health.alerts.AlertPolicy`).
    broker, partitions
        As for `App`.
    state
        Keep the patients' baselines (the anomaly stage's per-patient detectors) in
        `edalab.state` (True, or a `State` with its backend): checkpointed with the offsets
        and restored where a partition goes. The alerts are the same.

    Examples
    --------
    >>> from edalab.streams import vitals
    >>> ward = vitals(patients=10, hours=24, seed=4)
    >>> monitor = WardMonitor(methods=("news2", "combined")).feed(ward)
    >>> _ = monitor.run()
    >>> sorted(monitor.alerts("combined").columns)  # doctest: +NORMALIZE_WHITESPACE
    ['id', 'level', 'news2', 'patient_id', 'previous', 'score', 'time', 'type']
    >>> monitor.assessed()["level"].value_counts().to_dict()
    {'routine': 915, 'emergency': 31, 'urgent': 14}
    """

    def __init__(self, *, methods: Iterable[str] = METHODS, carry_forward: str = "30min",
                 warmup: int = 12, corroborate: float = 3.0, page: float = 4.0,
                 confirm: int = 2, clear: str = "1h", uncorroborated: int = 6,
                 persist: str = "30min",
                 broker: Any = None, partitions: int = 1,
                 state: bool | State = False) -> None:
        self.methods = tuple(methods)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be some of {METHODS}, got {self.methods}")
        #: The settings, as keywords for another monitor (a closed loop on the same ward).
        self.options = {"carry_forward": carry_forward, "warmup": warmup,
                        "corroborate": corroborate, "page": page, "confirm": confirm,
                        "clear": clear, "uncorroborated": uncorroborated, "persist": persist}
        self.app = App(broker, partitions=partitions)
        self.validator = Validator(carry_forward)
        self.news2 = News2Operator()
        self.detector = AnomalyDetector(
            lambda: PatientBaseline(warmup=warmup), x=_features, threshold=0.0, key=True,
            protect=False, alert_type="vitals.assessed", source="/edalab/health/anomaly",
            passthrough=("patient_id", "values", "carried", "news2", "partial", "red",
                         "level"))
        self.policies = {m: AlertPolicy(m, confirm=confirm, clear=clear,
                                        corroborate=corroborate, page=page,
                                        uncorroborated=uncorroborated, persist=persist,
                                        warmup=warmup)
                         for m in self.methods}
        self.ward: pd.DataFrame | None = None
        app = self.app
        app.handler("vitals", group="validate", output=Validator.route)(self.validator)
        app.handler("vitals.valid", group="news2", output="vitals.scored",
                    batch=True)(self.news2)
        app.handler("vitals.scored", group="anomaly", output="vitals.assessed",
                    state=state)(self.detector)
        for method, policy in self.policies.items():
            app.handler("vitals.assessed", group=f"alerts-{method}",
                        output=f"alerts.{method}")(policy)
            app.handler("alerts.acks", group=f"acks-{method}",
                        output=f"alerts.{method}")(_named(policy.acknowledge, f"ack_{method}"))
        app.topic("vitals.artefacts")
        app.topic("alerts.acks")

    def __repr__(self) -> str:
        return f"WardMonitor(methods={self.methods}, handlers={len(self.app.handlers)})"

    def feed(self, ward: pd.DataFrame | Iterable[Event]) -> WardMonitor:
        """Add observations: a `edalab.streams.vitals` frame (kept for scoring against its
        ground truth) or ``vitals.observation`` events. Returns the monitor."""
        if isinstance(ward, pd.DataFrame):
            self.ward = ward
            ward = sized(vitals_events(ward), len(ward))  # a progress bar with a total
        self.app.source("vitals", ward)
        return self

    def run(self, **kwargs: Any) -> RunStats:
        """Run until the stream is drained (keywords as for `App.run`)."""
        return self.app.run(**kwargs)

    def stream(self, every: int | None = 10_000, **kwargs: Any) -> Iterator[RunStats]:
        """Run step by step, yielding the run statistics about every `every` source events
        and at the end (keywords as for `App.stream`)."""
        return self.app.stream(every=every, **kwargs)

    def acknowledge(self, patient_id: str, time: Any, by: str = "nurse") -> None:
        """Publish an acknowledgement of `patient_id`'s alert (handled on the next step)."""
        self.app.broker.publish(self.app.topic("alerts.acks"), Event(
            "alert.ack", "/edalab/ward/nurse", {"patient_id": patient_id, "by": by},
            key=patient_id, time=pd.Timestamp(time).to_pydatetime()))

    # -- results -----------------------------------------------------------------------------

    def _events(self, topic: str) -> list[Event]:
        if topic not in self.app.broker.topics():
            return []
        return [r.event for r in self.app.broker.read(topic)]

    def assessed(self) -> pd.DataFrame:
        """Every assessed observation: time, patient, NEWS2, level and anomaly score."""
        cols = ["patient_id", "news2", "partial", "red", "level", "score"]
        frame = _keyed_by_patient(self._events("vitals.assessed"), cols[1:])[["time", *cols]]
        frame["news2"] = frame["news2"].astype("Float64")
        return frame.sort_values(["time", "patient_id"], kind="stable", ignore_index=True)

    def assessed_events(self) -> list[Event]:
        """The ``vitals.assessed`` events, in the order the policies saw them."""
        return self._events("vitals.assessed")

    def alerts(self, method: str | None = None) -> pd.DataFrame:
        """The alert events of one method (default: the last one), as a frame."""
        method = method or self.methods[-1]
        if method not in self.methods:
            raise ValueError(f"method {method!r} did not run; ran {self.methods}")
        events = self._events(f"alerts.{method}")
        return _alert_frame(events)

    def artefacts(self) -> pd.DataFrame:
        """The flagged artefacts: time, patient, kind and the readings removed."""
        cols = ["patient_id", "kind", "readings"]
        return _keyed_by_patient(self._events("vitals.artefacts"), cols[1:])[["time", *cols]]

    def dead_letters(self) -> list[Event]:
        """Events moved to the dead-letter topic of ``vitals`` (malformed input)."""
        return self._events("vitals.dlq")

    def quality(self) -> dict[str, int]:
        """Data-quality counts of the run: observations validated, dead letters, artefact
        sets by kind, readings missing, carried forward and left missing."""
        counts = self.validator.counts
        artefacts = self.artefacts()
        kinds = artefacts["kind"].value_counts() if len(artefacts) else {}
        return {"observations": counts["observations"], "clean": counts["clean"],
                "dead_letters": len(self.dead_letters()),
                "impossible_sets": int(kinds.get("impossible", 0)),
                "motion_sets": int(kinds.get("motion", 0)),
                "impossible_values": counts["impossible"], "missing_values": counts["missing"],
                "carried_forward": counts["carried"], "left_missing": counts["unfilled"]}


def _alert_frame(events: list[Event]) -> pd.DataFrame:
    cols = ["patient_id", "level", "previous", "news2", "score"]
    return events_frame(events, cols)[["time", "type", "id", *cols]]


def _keyed_by_patient(events: list[Event], fields: list[str]) -> pd.DataFrame:
    return events_frame(events, fields).rename(columns={"key": "patient_id"})


def pages(alerts: pd.DataFrame) -> pd.DataFrame:
    """The alerts that page a nurse (raised or escalated)."""
    return alerts[alerts["type"].isin(PAGES)]


def _named(fn: Any, name: str) -> Any:
    def handler(event: Event) -> list[Event]:
        return fn(event)
    handler.__name__ = name
    return handler
