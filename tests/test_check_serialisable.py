"""`check_serialisable` accepts exactly what `Event.to_json` writes, fast path or not."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edalab import Event, EventError
from edalab.events import check_serialisable

T = datetime(2024, 1, 1, tzinfo=UTC)


def deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


#: Values JSON cannot hold, or only just can, by name (drawn by name: some have no repr).
NAMED = {
    "nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"), "max": 1e308,
    "int400": 10**400, "-int400": -(10**400), "int5000": 10**5000, "-int5000": -(10**5000),
    "2**1024": 2**1024, "np.int64": np.int64(3), "np.float64": np.float64(1.5),
    "np.nan": np.float64("nan"), "np.float32": np.float32(2.0), "np.bool": np.bool_(True),
    "deep10": deep(10), "deep5000": deep(5000), "int key": {1: "x"}, "tuple key": {(1, 2): 1},
    "nan key": {float("nan"): 1}, "None key": {None: 1}, "huge key": {10**5000: 1},
    "tuple": (1, 2), "set": {1, 2}, "object": object(),
}


def named(name: str) -> object:
    return NAMED[name]


hostile = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(), st.none(),
    st.text(max_size=5), st.binary(max_size=3), st.sampled_from(sorted(NAMED)).map(named),
)
data = st.recursive(
    hostile,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=5)
    | st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.none()), inner,
                      max_size=3),
    max_leaves=12,
)
flat = st.dictionaries(st.text(max_size=4), hostile, max_size=6)


def writable(event: Event) -> bool:
    try:
        event.to_json()
    except EventError:
        return False
    return True


def first_refused(events: list[Event]) -> int | None:
    try:
        check_serialisable(events)
    except EventError as error:
        assert error.field == "data"
        return error.index
    return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(data, flat), max_size=6))
def test_check_serialisable_refuses_exactly_what_to_json_refuses(values):
    events = [Event("t", "/s", v, key="k", time=T) for v in values]
    expected = next((i for i, e in enumerate(events) if not writable(e)), None)
    assert first_refused(events) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(flat, min_size=1, max_size=8), st.data())
def test_check_serialisable_fast_path_agrees_on_flat_batches(values, draw):
    # Batches of one shape (all flat dicts, or all scalars) take the C-level proof first.
    events = [Event("t", "/s", v, time=T) for v in values]
    expected = next((i for i, e in enumerate(events) if not writable(e)), None)
    assert first_refused(events) == expected
    scalars = draw.draw(st.lists(hostile, min_size=1, max_size=8))
    events = [Event("t", "/s", v, time=T) for v in scalars]
    expected = next((i for i, e in enumerate(events) if not writable(e)), None)
    assert first_refused(events) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=4), st.one_of(hostile, flat), max_size=5),
                min_size=1, max_size=8))
def test_check_serialisable_fast_path_agrees_on_batches_of_nested_dicts(values):
    # Feature events hold flat dicts ({"tx_id": 7, "x": {...}}): a proof one level down.
    events = [Event("t", "/s", v, time=T) for v in values]
    expected = next((i for i, e in enumerate(events) if not writable(e)), None)
    assert first_refused(events) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.int64(7), 10**5000],
                         ids=["nan", "inf", "int64", "huge-int"])
def test_check_serialisable_names_the_first_bad_event_of_a_flat_batch(bad):
    good = {"id": "x", "score": 0.5, "version": 3, "ok": True, "note": None}
    events = [Event("t", "/s", good), Event("t", "/s", {**good, "score": bad}),
              Event("t", "/s", {**good, "score": bad})]
    with pytest.raises(EventError, match="event 1 is not JSON-serialisable") as info:
        check_serialisable(events)
    assert info.value.index == 1


def test_check_serialisable_leaves_non_events_to_the_type_check():
    check_serialisable([Event("t", "/s", 1), "not an event"])


def test_the_memory_brokers_read_only_data_is_checked_as_its_plain_twin():
    from edalab.readonly import freeze

    good = Event("t", "/s", freeze({"x": 1.5, "tags": ["a"]}))
    check_serialisable([good, good.replace(data=freeze({"x": 2.0}))])
    with pytest.raises(EventError) as info:
        check_serialisable([good.replace(data=freeze({"x": float("nan")}))])
    assert info.value.index == 0


def test_check_serialisable_proves_dicts_holding_flat_dicts_without_encoding(monkeypatch):
    # A feature event's shape ({"tx_id": 1, "x": {features}}): proved in C-level passes,
    # not JSON-encoded event by event (which cost the fraud classifier's App a quarter of
    # its time).
    import edalab.events

    def no_encoding(data):
        raise AssertionError(f"encoded {data!r}")

    events = [Event("t", "/s", {"tx_id": i, "x": {"a": 1.5 * i, "b": i, "c": True}, "n": None})
              for i in range(3)]
    monkeypatch.setattr(edalab.events, "_encode", no_encoding)
    check_serialisable(events)
    with pytest.raises(AssertionError, match="encoded"):  # a list inside is still encoded
        check_serialisable([Event("t", "/s", {"x": {"a": [1]}})])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.int64(7), 10**5000],
                         ids=["nan", "inf", "int64", "huge-int"])
def test_check_serialisable_names_a_bad_value_inside_a_nested_dict(bad):
    good = {"tx_id": 1, "x": {"a": 1.0, "b": 2}}
    events = [Event("t", "/s", good), Event("t", "/s", {**good, "x": {"a": bad, "b": 2}})]
    with pytest.raises(EventError, match="event 1 is not JSON-serialisable") as info:
        check_serialisable(events)
    assert info.value.index == 1


def _kinds(value: object) -> object:
    """The types of a value at every depth (what freezing changes), for comparison."""
    if isinstance(value, dict):
        return type(value), [(type(k), _kinds(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return type(value), [_kinds(v) for v in value]
    return type(value)


scalar = hostile.filter(lambda v: not isinstance(v, list))  # not deep5000: no recursion here
shallow = st.one_of(scalar, st.dictionaries(st.text(max_size=4), scalar, max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=3), st.one_of(shallow, st.lists(shallow)),
                                max_size=4), min_size=1, max_size=6))
def test_freeze_data_of_a_batch_equals_freezing_each_event(values):
    from edalab.readonly import freeze, freeze_data

    batch = [Event("t", "/s", v, time=T, id=str(i)) for i, v in enumerate(values)]
    freeze_data(batch)
    for event, value in zip(batch, values, strict=True):
        alone = freeze(value)
        assert _kinds(event.data) == _kinds(alone)
        assert event.data == alone  # the same objects inside: NaN is itself
