"""`AnomalyDetector`: any river anomaly detector as a stream operator, one detector per key.

Each event is scored first (``score_one``), then learnt (``learn_one``), so a score never
includes the event itself: the same prequential order river's own anomaly filters use. Whether
a score is anomalous is decided by river's `anomaly.ThresholdFilter` (a fixed threshold) or
`anomaly.QuantileFilter` (a running quantile of the scores seen so far, per key).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from numbers import Real
from typing import Any

from river import anomaly
from river.base import AnomalyFilter

from edalab.events import Event
from edalab.operators.base import Operator

__all__ = ["AnomalyDetector"]

KeyOption = bool | str | Callable[[Event], Hashable] | None


def key_function(key: KeyOption) -> Callable[[Event], Hashable] | None:
    """How an operator groups events: None (one group), True (the event key), a data field
    name, or a function of the event."""
    if key is None or key is False:
        return None
    if key is True:
        return _event_key
    if isinstance(key, str):
        field = key

        def data_field(event: Event) -> Hashable:
            try:
                return event.data[field]
            except (KeyError, TypeError):
                raise ValueError(f"event {event.id!r}: key field {field!r} is missing") from None

        return data_field
    if callable(key):
        return key
    raise TypeError(f"key must be None, True, a field name or a function, got {key!r}")


def _event_key(event: Event) -> Hashable:
    return event.key


def _check_number(event: Event, name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a finite real number (bools count, as in river)."""
    if isinstance(value, Real) and math.isfinite(value):
        return
    if value is None:
        raise ValueError(f"event {event.id!r}: field {name!r} is missing (None)")
    if isinstance(value, Real):
        raise ValueError(f"event {event.id!r}: field {name!r} is not finite ({value!r})")
    raise ValueError(f"event {event.id!r}: field {name!r} is not numeric "
                     f"({type(value).__name__} {value!r})")


def features_function(x: str | Sequence[str] | Callable[[Event], dict]
                      ) -> Callable[[Event], dict]:
    """A checked event -> feature dict function (bad input raises ValueError naming event
    id and field)."""
    if isinstance(x, str):
        name = x

        def from_field(event: Event) -> dict:
            data = event.data
            try:
                value = data[name]
            except (KeyError, TypeError):
                raise ValueError(f"event {event.id!r}: field {name!r} is missing") from None
            if value.__class__ is dict:
                for k, v in value.items():
                    if v.__class__ is not float or v - v != 0.0:
                        _check_number(event, f"{name}.{k}", v)
                return value
            _check_number(event, name, value)
            return {name: value}

        return from_field
    if callable(x):
        fn = x

        def from_function(event: Event) -> dict:
            value = fn(event)
            if not isinstance(value, dict):
                raise ValueError(f"event {event.id!r}: x function returned "
                                 f"{type(value).__name__}, not a dict")
            for k, v in value.items():
                if v.__class__ is not float or v - v != 0.0:
                    _check_number(event, str(k), v)
            return value

        return from_function
    names = tuple(x)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"x must be a field name, a sequence of field names or a function, "
                        f"got {x!r}")

    def from_fields(event: Event) -> dict:
        data = event.data
        try:
            out = {n: data[n] for n in names}
        except (KeyError, TypeError):
            missing = [n for n in names if not isinstance(data, dict) or n not in data]
            raise ValueError(f"event {event.id!r}: field {missing[0]!r} is missing") from None
        for k, v in out.items():
            if v.__class__ is not float or v - v != 0.0:
                _check_number(event, k, v)
        return out

    return from_fields


class AnomalyDetector(Operator):
    """Score each event with a river anomaly detector, learn from it, and alert on outliers.

    Parameters
    ----------
    detector
        An unsupervised river anomaly detector or pipeline (``MinMaxScaler() |
        HalfSpaceTrees(seed=1)``), a river ``ThresholdFilter``/``QuantileFilter`` around one, or
        a zero-argument factory returning either. With a `key`, each key gets its own detector
        (a factory's result, or a ``clone()`` of the given detector).
    x
        The features: a data field holding a dict of numbers (``"x"``) or a number, a sequence
        of numeric data fields, or a function event -> dict. Missing, non-numeric and
        non-finite values raise ``ValueError`` naming the event id and the field.
    threshold, quantile
        Exactly one, unless `detector` is already an anomaly filter: alert when the score is
        at least `threshold` (river ``ThresholdFilter``), or at least the running `quantile` of
        the key's scores so far (river ``QuantileFilter``; no alert before it has scores).
    key
        None: one detector for all events; True: one per event key (e.g. per patient); a data
        field name or a function event -> key.
    warmup
        No alerts for the first `warmup` events of each key (the detector still learns).
    protect
        Do not learn from events classified anomalous (after warm-up), so a run of anomalies
        does not become normal (river's ``protect_anomaly_detector``).
    passthrough
        Data fields copied from the event into the alert.
    alert_type, source
        Type and source of the alerts. An alert has the event's key and time, id
        ``anomaly-<event id>`` and data ``{"score", "threshold", *passthrough}``.
    types
        If given, only events of these types are scored; others are ignored.
    forward
        Event types returned unchanged (e.g. in-band labels a later stage needs).

    Examples
    --------
    >>> import random
    >>> from datetime import datetime, timedelta, timezone
    >>> from river import anomaly
    >>> rng = random.Random(7)
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> events = [Event("reading", "/s", {"a": rng.gauss(0, 1), "b": rng.gauss(5, 1)},
    ...                 key="s1", time=t0 + timedelta(seconds=i), id=f"r{i}")
    ...           for i in range(400)]
    >>> events.append(Event("reading", "/s", {"a": 9.0, "b": -4.0}, key="s1",
    ...                     time=t0 + timedelta(seconds=400), id="spike"))
    >>> hst = anomaly.HalfSpaceTrees(seed=1, window_size=50, limits={"a": (-4, 4), "b": (1, 9)})
    >>> op = AnomalyDetector(hst, x=("a", "b"), threshold=0.99, key=True, warmup=100)
    >>> alerts = [a for e in events for a in op.test(e)]
    >>> [(a.id, round(a.data["score"], 3)) for a in alerts]
    [('anomaly-spike', 0.995)]
    >>> op.stats
    {'events': 401, 'alerts': 1, 'keys': 1, 'warming_up': 0}
    """

    def __init__(
        self,
        detector: Any,
        *,
        x: str | Sequence[str] | Callable[[Event], dict] = "x",
        threshold: float | None = None,
        quantile: float | None = None,
        key: KeyOption = None,
        warmup: int = 0,
        protect: bool = True,
        passthrough: Iterable[str] = (),
        alert_type: str = "anomaly.alert",
        source: str = "/edalab/ml/anomaly",
        types: Iterable[str] | None = None,
        forward: Iterable[str] = (),
    ) -> None:
        is_filter = isinstance(detector, AnomalyFilter)
        if is_filter and (threshold is not None or quantile is not None):
            raise ValueError("detector is already an anomaly filter: give no threshold/quantile")
        if not is_filter and (threshold is None) == (quantile is None) and not callable(detector):
            raise ValueError("give exactly one of threshold= or quantile=")
        if quantile is not None and not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        if not callable(detector) and not hasattr(detector, "score_one"):
            raise TypeError(f"detector must be a river anomaly detector or a factory, "
                            f"got {type(detector).__name__}")
        self.detector = detector
        self.threshold = threshold
        self.quantile = quantile
        self.warmup = warmup
        self.protect = protect
        self.passthrough = tuple(passthrough)
        self.alert_type = alert_type
        self.source = source
        self.types = frozenset(types) if types is not None else None
        self.forward = frozenset(forward)
        self._x = features_function(x)
        self._key = key_function(key)
        # key -> [filter, wrapped detector, events seen, is quantile filter]
        self._states: dict[Hashable, list] = {}
        self._handed_out = False
        self._events = 0
        self._alerts = 0
        self.__name__ = "anomaly_detector"

    def __repr__(self) -> str:
        rule = (f"threshold={self.threshold}" if self.threshold is not None
                else f"quantile={self.quantile}" if self.quantile is not None else "filter")
        return f"AnomalyDetector({self.detector!r}, {rule}, keys={len(self._states)})"

    def _new_state(self) -> list:
        made = self.detector
        if isinstance(made, type) or not hasattr(made, "score_one"):
            made = made()  # a factory (a class counts)
        elif self._key is not None or self._states or self._handed_out:
            made = made.clone()
        self._handed_out = True  # the given detector is in use: the next key gets a clone
        if isinstance(made, AnomalyFilter):
            filt = made
        elif self.threshold is not None:
            filt = anomaly.ThresholdFilter(made, threshold=self.threshold,
                                           protect_anomaly_detector=self.protect)
        elif self.quantile is not None:
            filt = anomaly.QuantileFilter(made, q=self.quantile,
                                          protect_anomaly_detector=self.protect)
        else:
            raise ValueError("the factory made a detector, not a filter: give threshold= or "
                             "quantile=")
        return [filt, filt.anomaly_detector, 0, isinstance(filt, anomaly.QuantileFilter)]

    def process(self, event: Event) -> list[Event]:
        etype = event.type
        if etype in self.forward:
            return [event]
        if self.types is not None and etype not in self.types:
            return []
        x = self._x(event)
        key = self._key(event) if self._key is not None else None
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = self._new_state()
        filt, detector, n, is_quantile = state
        # What river's filters do in learn_one, without scoring the event a second time.
        score = detector.score_one(x)
        anomalous = filt.classify(score)
        state[2] = n = n + 1
        alert = anomalous and n > self.warmup
        if alert:
            limit = filt.quantile.get() if is_quantile else filt.threshold
        if not (alert and filt.protect_anomaly_detector):
            detector.learn_one(x)
        if is_quantile:
            filt.quantile.update(score)
        self._events += 1
        if not alert:
            return []
        self._alerts += 1
        data = {"score": float(score), "threshold": float(limit)}
        if self.passthrough:
            source_data = event.data
            for name in self.passthrough:
                data[name] = source_data.get(name)
        return [Event(self.alert_type, self.source, data, key=event.key, time=event.time,
                      id=f"anomaly-{event.id}")]

    def snapshot(self) -> dict[str, Any]:
        """The per-key detectors (river objects, live), for `edalab.state` checkpoints."""
        return {"states": self._states}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Go on from a `snapshot` (None: no key seen yet)."""
        self._states = {} if state is None else state["states"]

    def detector_for(self, key: Hashable = None) -> Any:
        """The (filtered) river detector of `key` (None without a key function)."""
        return self._states[key][0]

    @property
    def stats(self) -> dict[str, int]:
        """Events scored, alerts emitted, keys with a detector, keys still warming up."""
        warming = sum(1 for s in self._states.values() if s[2] <= self.warmup)
        return {"events": self._events, "alerts": self._alerts, "keys": len(self._states),
                "warming_up": warming}
