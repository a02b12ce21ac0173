"""`check_operator`: the generic checks every edalab operator passes (river's
``check_estimator``, for stream operators).

>>> from datetime import datetime, timedelta, timezone
>>> from river import stats
>>> from edalab import Event
>>> from edalab.ml import TumblingWindow
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> events = [Event("reading", "/s", {"watts": float(i)}, key="s1", id=f"r{i}",
...                 time=t0 + timedelta(minutes=i)) for i in range(30)]
>>> check_operator(TumblingWindow("10min", stats.Mean, value="watts"), events)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from edalab.events import Event, EventError
from edalab.operators.base import Operator

__all__ = ["check_operator"]

#: Exceptions a malformed event may raise: a clean, named error.
CLEAN_ERRORS = (EventError, TypeError, ValueError)


def check_operator(op: Operator, events: Sequence[Event], *,
                   volatile: Sequence[str] = ("latency_us",)) -> None:
    """Run the generic operator checks on `op` (left untouched: each check runs on a deep
    copy) fed with `events`; AssertionError naming the first check that fails.

    - ``repr`` shows the class and its parameters;
    - ``test(events)`` returns a list of `Event`;
    - ``process_batch(events)`` gives what `process` gives event by event;
    - ``stats`` is a mapping of numbers (None for one not known yet) that changes as events
      are processed;
    - ``flush(now)`` returns a list of events, and a second flush returns [];
    - a malformed event (data of the wrong type, a field missing, a wrong type or NaN in a
      field) is handled or raises `EventError`, `TypeError` or `ValueError`, nothing else;
      when it raises, the next good event gives what it gives on an operator that never
      saw the bad one.

    Outputs are compared without the data fields in `volatile` (wall-clock timings).
    """
    events = list(events)
    if len(events) < 2:
        raise ValueError("check_operator needs at least two events")
    name = type(op).__name__
    text = repr(op)
    assert text.startswith(f"{name}(") and " object at 0x" not in text, (
        f"{name}: repr should show the class and its parameters, got {text!r}")

    ran = copy.deepcopy(op)
    before = _stats(copy.deepcopy(op), name)
    out = ran.test(events)
    assert isinstance(out, list) and all(isinstance(e, Event) for e in out), (
        f"{name}.test(events) must return a list of Events, got {type(out).__name__}")
    after = _stats(ran, name)
    assert after != before, f"{name}.stats did not change while {len(events)} events ran"

    each: list[Event] = []
    single = copy.deepcopy(op)
    for event in events:
        each += single.process(event)
    batch = copy.deepcopy(op).process_batch(events)
    assert _same(batch, each, volatile), (
        f"{name}: process_batch(events) differs from process() on each event")
    assert _same(out, each, volatile), f"{name}: test(events) differs from process()"

    now = events[-1].time
    flushed = ran.flush(now)
    assert isinstance(flushed, list) and all(isinstance(e, Event) for e in flushed), (
        f"{name}.flush(now) must return a list of Events")
    assert ran.flush(now) == [], f"{name}: a second flush must return []"

    _check_malformed(op, events, name, volatile)


def _stats(op: Operator, name: str) -> dict[str, Any]:
    stats = op.stats
    assert isinstance(stats, Mapping), f"{name}.stats must be a mapping, got {type(stats)}"
    stats = dict(stats)
    for key, value in stats.items():
        assert isinstance(key, str), f"{name}.stats keys must be str, got {key!r}"
        assert value is None or (isinstance(value, (int, float))
                                 and not isinstance(value, bool)), (
            f"{name}.stats[{key!r}] must be a number (or None), got {value!r}")
    return stats


def _check_malformed(op: Operator, events: list[Event], name: str,
                     volatile: Sequence[str]) -> None:
    warm = copy.deepcopy(op)
    for event in events[:-1]:
        warm.process(event)
    probe = events[-1]
    expected = copy.deepcopy(warm).process(probe)
    seen_types: set[str] = set()
    for event in events:
        if event.type in seen_types:
            continue
        seen_types.add(event.type)
        for what, bad in _malformed(event):
            trial = copy.deepcopy(warm)
            try:
                trial.process(bad)
            except CLEAN_ERRORS:
                got = trial.process(probe)
                assert _same(got, expected, volatile), (
                    f"{name}: after rejecting an event with {what}, the next event gave "
                    "another result than on an operator that never saw it (state corrupted)")
            except Exception as exc:  # noqa: BLE001 (the check is which class it is)
                raise AssertionError(
                    f"{name}: an event with {what} raised {type(exc).__name__}: {exc}; "
                    "expected EventError, TypeError or ValueError") from exc


def _malformed(event: Event) -> Iterator[tuple[str, Event]]:
    """Variants of `event`: data of the wrong type, then per field: missing, of the wrong
    type, NaN (and NaN in the first fields of a nested dict)."""
    yield "data of the wrong type", event.replace(data=[1, 2])
    data = event.data
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        rest = {k: v for k, v in data.items() if k != key}
        yield f"field {key!r} missing", event.replace(data=rest)
        wrong = "?" if isinstance(value, (int, float)) or value is None else [value]
        yield f"field {key!r} of the wrong type", event.replace(data={**data, key: wrong})
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"field {key!r} NaN", event.replace(data={**data, key: math.nan})
        if isinstance(value, dict):
            for inner in list(value)[:3]:
                nested = {**value, inner: math.nan}
                yield (f"field {key}.{inner} NaN",
                       event.replace(data={**data, key: nested}))


def _same(a: list[Event], b: list[Event], volatile: Sequence[str]) -> bool:
    return _plain(a, volatile) == _plain(b, volatile)


def _plain(events: list[Event], volatile: Sequence[str]) -> str:
    rows = []
    for e in events:
        data = e.data
        if isinstance(data, dict) and volatile:
            data = {k: v for k, v in data.items() if k not in volatile}
        rows.append((e.type, e.id, e.key, e.time, e.source, data))
    return repr(rows)  # repr: NaN equals NaN
