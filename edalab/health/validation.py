"""Validation of vital-sign events: what a monitor may score as truth, and what it may not.

`Validator` is a stream operator (a handler of ``vitals.observation`` events). Each event
ends one of three ways:

- **dead letter**: the event is malformed (no patient, a NEWS2 field absent, a string or a list
  where a number belongs, a non-boolean oxygen flag): the validator raises `EventError`, so
  `App` retries it and then moves it to the topic's dead-letter topic. A producer that sends
  such events is broken; the monitor does not guess what it meant.
- **flagged artefact**: a reading that cannot be the patient (outside
  `edalab.health.news2.VALID_RANGES`, such as SpO2 140 or a negative pulse, or an unknown ACVPU
  letter) or a motion artefact (pulse jumping up and SpO2 dropping at once against the last
  accepted reading) is removed from the set and reported in a ``vitals.artefact`` event.
- **validated**: a ``vitals.validated`` event with the set as a vector in NEWS2's parameter
  order (`VECTOR`). Missing readings (None, NaN) and removed ones are carried forward from the
  patient's last accepted reading, but only if it is at most `carry_forward` old; otherwise
  they stay missing (None) and NEWS2 treats the set as incomplete.

>>> from datetime import datetime, timezone
>>> from edalab.events import Event
>>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> obs = {"patient_id": "p1", "respiration_rate": 16, "spo2": 140, "on_oxygen": False,
...        "systolic_bp": 120, "pulse": 70, "consciousness": "A", "temperature": 36.9}
>>> v = Validator()
>>> [(e.type, e.data.get("kind")) for e in v.test(Event("vitals.observation", "/w", obs,
...                                                           key="p1", time=t))]
[('vitals.validated', None), ('vitals.artefact', 'impossible')]
>>> v.counts["impossible"]
1
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event, EventError
from edalab.health.news2 import ACVPU, PARAMETERS, VALID_RANGES
from edalab.operators.base import Operator

__all__ = ["ACVPU", "VECTOR", "Validator"]

#: Order of the values in a validated event's ``values`` list: NEWS2's `PARAMETERS`, with
#: ``on_oxygen`` as 1.0 / 0.0 and ``consciousness`` as its index in `ACVPU`.
VECTOR = PARAMETERS
_NUMERIC = tuple((i, name, *VALID_RANGES[name]) for i, name in enumerate(PARAMETERS)
                 if name in VALID_RANGES)
_OXYGEN = PARAMETERS.index("on_oxygen")
_ACVPU = PARAMETERS.index("consciousness")
_PULSE = PARAMETERS.index("pulse")
_SPO2 = PARAMETERS.index("spo2")
_FLOAT_TYPES = (float, int, np.floating, np.integer)
_COUNTS = ("observations", "clean", "missing", "impossible", "motion", "carried", "unfilled")


class Validator(Operator):
    """Check, clean and carry forward vital-sign observation sets, per patient.

    Parameters
    ----------
    carry_forward
        How old a patient's last accepted reading may be and still stand in for a missing or
        removed one (a pandas offset such as ``"30min"``; ``"0s"`` never carries forward).
    motion_pulse, motion_spo2
        A set whose pulse is at least `motion_pulse` /min above the last accepted pulse while
        its SpO2 is at least `motion_spo2` % below the last accepted SpO2 (both within
        `carry_forward`) is a motion artefact: no physiology moves that fast, a moving finger
        on the oximeter does. Both readings are removed.
    source
        Source of the events the validator emits.

    Attributes
    ----------
    counts
        A `collections.Counter`: ``observations`` validated, ``clean`` (no value missing or
        removed), ``missing`` values, ``impossible`` values, ``motion`` artefacts (sets),
        ``carried`` values filled in and ``unfilled`` values left missing.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> base = {"patient_id": "p1", "respiration_rate": 16, "spo2": 97, "on_oxygen": False,
    ...         "systolic_bp": 120, "pulse": 70, "consciousness": "A", "temperature": 36.9}
    >>> v = Validator(carry_forward="20min")
    >>> def send(minutes, **changes):
    ...     e = Event("vitals.observation", "/w", {**base, **changes}, key="p1",
    ...               time=t + timedelta(minutes=minutes))
    ...     return v.test(e)[0].data
    >>> send(0)["values"]
    [16.0, 97.0, 0.0, 120.0, 70.0, 0.0, 36.9]
    >>> d = send(15, pulse=None)  # missing: the pulse of 15 minutes ago stands in
    >>> d["values"][4], d["carried"]
    (70.0, ['pulse'])
    >>> send(40, pulse=None)["values"][4] is None  # the last pulse is now 40 minutes old
    True
    >>> v.test(Event("vitals.observation", "/w", {**base, "pulse": "fast"}, key="p1", time=t))
    Traceback (most recent call last):
    ...
    edalab.events.EventError: event field 'data': pulse must be a number or null, got str 'fast'
    """

    def __init__(self, carry_forward: str | timedelta | pd.Timedelta = "30min", *,
                 motion_pulse: float = 25.0, motion_spo2: float = 4.0,
                 source: str = "/edalab/health/validation") -> None:
        limit = parse_duration(carry_forward, name="carry_forward", allow_zero=True)
        self.carry_forward = limit.to_pytimedelta()
        self.motion_pulse = float(motion_pulse)
        self.motion_spo2 = float(motion_spo2)
        self.source = source
        self.counts: Counter[str] = Counter()
        # patient -> (last accepted values, their times)
        self._last: dict[str, tuple[list, list]] = {}
        self.__name__ = "validate"

    def __repr__(self) -> str:
        return (f"Validator(carry_forward={pd.Timedelta(self.carry_forward)!s}, "
                f"patients={len(self._last)})")

    def _parse(self, event: Event) -> tuple[str, list, list]:
        """Values in `VECTOR` order (None: missing or removed) and the problems found; raises
        `EventError` for a malformed event, before any state changes."""
        data = event.data
        if not isinstance(data, Mapping):
            raise EventError("data", f"must be a mapping of vital signs, got "
                                     f"{type(data).__name__}")
        patient = event.key if event.key is not None else data.get("patient_id")
        if not isinstance(patient, str) or not patient:
            raise EventError("key", "the event names no patient (no key, no patient_id)")
        absent = [name for name in PARAMETERS if name not in data]
        if absent:
            raise EventError("data", f"lacks the NEWS2 field(s) {absent}")
        values: list = [None] * 7
        problems: list[tuple[str, Any]] = []
        for i, name, low, high in _NUMERIC:
            v = data[name]
            if v is None:
                continue
            if v.__class__ is not float and (isinstance(v, (bool, np.bool_))
                                             or not isinstance(v, _FLOAT_TYPES)):
                raise EventError("data", f"{name} must be a number or null, got "
                                         f"{type(v).__name__} {v!r}")
            try:
                x = float(v)
            except OverflowError:  # an int past float range: impossible, like any other
                x = math.inf
            if math.isnan(x):
                continue
            if low <= x <= high:
                values[i] = x
            else:
                problems.append((name, v))
        oxygen = data["on_oxygen"]
        if oxygen is not None:
            if not isinstance(oxygen, (bool, np.bool_)):
                raise EventError("data", f"on_oxygen must be a bool or null, got "
                                         f"{type(oxygen).__name__} {oxygen!r}")
            values[_OXYGEN] = 1.0 if oxygen else 0.0
        letter = data["consciousness"]
        if letter is not None:
            if not isinstance(letter, str):
                raise EventError("data", f"consciousness must be an ACVPU letter or null, got "
                                         f"{type(letter).__name__} {letter!r}")
            index = ACVPU.find(letter) if len(letter) == 1 else -1
            if index < 0:
                problems.append(("consciousness", letter))
            else:
                values[_ACVPU] = float(index)
        return patient, values, problems

    @property
    def stats(self) -> dict[str, int]:
        """`counts` as a plain dict (every count, zeros included), and the patients seen."""
        counts = self.counts
        return {**{name: counts[name] for name in _COUNTS}, "patients": len(self._last)}

    def process(self, event: Event) -> list[Event]:
        patient, values, problems = self._parse(event)
        counts = self.counts
        counts["observations"] += 1
        time = event.time
        missing = values.count(None) - len(problems)
        last = self._last.get(patient)
        if last is None:
            last = self._last[patient] = ([None] * 7, [None] * 7)
        last_values, last_times = last
        limit = self.carry_forward
        motion = False
        pulse, spo2 = values[_PULSE], values[_SPO2]
        if pulse is not None and spo2 is not None:
            old_pulse, old_spo2 = last_values[_PULSE], last_values[_SPO2]
            if (old_pulse is not None and old_spo2 is not None
                    and time - last_times[_PULSE] <= limit and time - last_times[_SPO2] <= limit
                    and pulse - old_pulse >= self.motion_pulse
                    and old_spo2 - spo2 >= self.motion_spo2):
                motion = True
                problems.append(("pulse", pulse))
                problems.append(("spo2", spo2))
                values[_PULSE] = values[_SPO2] = None
        carried = []
        for i in range(7):
            v = values[i]
            if v is None:
                old = last_values[i]
                if old is not None and time - last_times[i] <= limit:
                    values[i] = old
                    carried.append(PARAMETERS[i])
            else:
                last_values[i] = v
                last_times[i] = time
        if missing:
            counts["missing"] += missing
        if carried:
            counts["carried"] += len(carried)
        unfilled = values.count(None)
        if unfilled:
            counts["unfilled"] += unfilled
        if not problems and not missing:
            counts["clean"] += 1
        out = [Event("vitals.validated", self.source,
                     {"patient_id": patient, "values": values, "carried": carried},
                     key=patient, time=time, id=event.id)]
        if problems:
            kind = "motion" if motion else "impossible"
            counts[kind] += 1 if motion else len(problems)
            if motion and len(problems) > 2:
                counts["impossible"] += len(problems) - 2
            out.append(Event("vitals.artefact", self.source, _artefact(patient, kind, problems),
                             key=patient, time=time, id=f"artefact-{event.id}"))
        return out

    @staticmethod
    def route(event: Event) -> str:
        """Topic for an emitted event: ``vitals.artefacts`` or ``vitals.valid``."""
        return "vitals.artefacts" if event.type == "vitals.artefact" else "vitals.valid"


def _artefact(patient: str, kind: str, problems: list[tuple[str, Any]]) -> dict[str, Any]:
    """An artefact event's data: the removed readings as JSON holds them (numpy numbers as
    Python's); one JSON cannot hold as a number (inf, an int past float range) is None
    there, and its raw value, as text, is under ``raw``.

    >>> _artefact("p1", "impossible", [("pulse", float("inf")), ("spo2", np.int64(140))])
    {'patient_id': 'p1', 'kind': 'impossible', 'readings': {'pulse': None, 'spo2': 140}, \
'raw': {'pulse': 'inf'}}
    """
    readings: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for name, value in problems:
        readings[name] = reading = _json_reading(value)
        if reading is None:
            raw[name] = _text(value)
    data = {"patient_id": patient, "kind": kind, "readings": readings}
    if raw:
        data["raw"] = raw
    return data


def _json_reading(value: Any) -> Any:
    """`value` as a JSON number (or the ACVPU string it is), or None if it is not finite."""
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number):
        return None
    return int(value) if isinstance(value, (int, np.integer)) else number


def _text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an int past Python's int-to-str digit limit
        return f"an integer of {value.bit_length()} bits"
