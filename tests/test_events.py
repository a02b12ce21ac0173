"""The Event envelope: CloudEvents attributes, immutability, JSON round trip, clear errors."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from cloudevents.core.formats.json import JSONFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from edalab import Event, EventError

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def make(**changes):
    fields = dict(type="card.tx", source="/pos/1", data={"amount": 12.5}, key="c1", time=T0,
                  id="tx-1")
    fields.update(changes)
    return Event(**fields)


def test_event_has_cloudevents_attributes():
    e = make(subject="card/1", extensions={"traceparent": "00-abc", "priority": 2})
    assert (e.specversion, e.id, e.source, e.type, e.subject) == ("1.0", "tx-1", "/pos/1",
                                                                  "card.tx", "card/1")
    assert e.time == T0 and e.datacontenttype == "application/json"
    assert e.extensions == {"traceparent": "00-abc", "priority": 2}


def test_id_is_generated_and_unique_when_absent():
    ids = {Event("t", "/s").id for _ in range(1000)}
    assert len(ids) == 1000


def test_event_is_immutable():
    e = make()
    with pytest.raises(AttributeError, match="immutable"):
        e.type = "other"
    with pytest.raises(AttributeError):
        del e.data
    assert e.replace(type="other").type == "other" and e.type == "card.tx"


def test_json_round_trip_is_exact():
    e = make(subject="s", extensions={"flag": True, "n": 3, "tag": "x"})
    assert Event.from_json(e.to_json()) == e


def test_binary_data_round_trips_as_data_base64():
    e = make(data=b"\x00\x01binary", datacontenttype="application/octet-stream")
    doc = json.loads(e.to_json())
    assert "data_base64" in doc and "data" not in doc
    assert Event.from_json(e.to_json()).data == b"\x00\x01binary"


def test_time_is_normalised_to_utc():
    paris = timezone(timedelta(hours=2))
    e = make(time=datetime(2024, 5, 1, 14, 30, tzinfo=paris))
    assert e.time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC) and e.time.tzinfo is UTC
    assert json.loads(e.to_json())["time"] == "2024-05-01T12:30:00Z"


def test_pandas_timestamp_becomes_a_plain_datetime():
    import pandas as pd

    e = make(time=pd.Timestamp("2024-05-01 12:30", tz="UTC"))
    assert type(e.time) is datetime


def test_int_key_is_stored_as_string():
    assert make(key=42).key == "42"


def test_official_cloudevents_sdk_parses_our_json():
    e = make(subject="card/1", extensions={"priority": 2})
    parsed = JSONFormat().read(None, e.to_json())  # the SDK validates attribute names too
    attrs = parsed.get_attributes()
    assert attrs["id"] == "tx-1" and attrs["type"] == "card.tx"
    assert attrs["source"] == "/pos/1" and attrs["subject"] == "card/1"
    assert attrs["partitionkey"] == "c1" and attrs["priority"] == 2
    assert attrs["time"] == T0
    assert parsed.get_data() == {"amount": 12.5}


@pytest.mark.parametrize(("changes", "field"), [
    ({"type": None}, "type"),
    ({"type": ""}, "type"),
    ({"source": 3}, "source"),
    ({"id": ""}, "id"),
    ({"subject": 1}, "subject"),
    ({"key": 1.5}, "key"),
    ({"time": datetime(2024, 1, 1)}, "time"),
    ({"time": "2024-01-01"}, "time"),
    ({"extensions": {"Bad-Name": 1}}, "Bad-Name"),
    ({"extensions": {"waytoolongextensionname": 1}}, "waytoolongextensionname"),
    ({"extensions": {"type": "x"}}, "type"),
    ({"extensions": {"ratio": 0.5}}, "ratio"),
])
def test_bad_input_raises_event_error_naming_the_field(changes, field):
    with pytest.raises(EventError) as info:
        make(**changes)
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("text", "field"), [
    ("not json", "event"),
    ("[1, 2]", "event"),
    ('{"specversion": "1.0", "id": "1", "source": "/s"}', "type"),
    ('{"specversion": "1.0", "id": "1", "type": "t"}', "source"),
    ('{"specversion": "0.3", "id": "1", "type": "t", "source": "/s"}', "specversion"),
    ('{"specversion": "1.0", "id": "1", "type": "t", "source": "/s", "time": "yesterday"}',
     "time"),
    ('{"specversion": "1.0", "id": "1", "type": "t", "source": "/s", '
     '"time": "2024-01-01T00:00:00"}', "time"),
])
def test_from_json_rejects_malformed_input(text, field):
    with pytest.raises(EventError) as info:
        Event.from_json(text)
    assert info.value.field == field


_HEAD = '{"specversion": "1.0", "id": "1", "type": "t", "source": "/s"'


@pytest.mark.parametrize(("text", "field"), [
    (_HEAD + ', "data": ' + "[" * 5000 + "]" * 5000 + "}", "event"),  # RecursionError
    (_HEAD + ', "time": "9999-12-31T23:59:59-14:00"}', "time"),  # OverflowError in UTC
    ('{"specversion": "1.0", "id": null, "type": "t", "source": "/s"}', "id"),
    ('{"specversion": "1.0", "id": "1", "type": null, "source": "/s"}', "type"),
    (_HEAD + ', "data": NaN}', "event"),
    (_HEAD + ', "data": [1, -Infinity]}', "event"),
    (_HEAD + ', "data": ' + "9" * 5000 + "}", "event"),  # past Python's int digit limit
    ((_HEAD + ', "data": "\u00e9"}').encode("latin-1"), "event"),  # not UTF-8
    (b"\xff\xfe", "event"),
])
def test_from_json_raises_event_error_for_every_hostile_document(text, field):
    with pytest.raises(EventError) as info:
        Event.from_json(text)
    assert info.value.field == field


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("data", [
    {"x": object()}, float("nan"), [float("inf")], np.int64(3), 10**5000, _nested(5000),
], ids=["object", "nan", "inf", "numpy-int", "huge-int", "deep"])
def test_unserialisable_data_is_an_event_error(data):
    with pytest.raises(EventError, match="data"):
        make(data=data).to_json()


def test_events_pickle_for_worker_processes():
    e = make()
    assert pickle.loads(pickle.dumps(e)) == e


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@given(data=json_values, key=st.none() | st.text(min_size=1, max_size=10),
       micros=st.integers(0, 10**15))
def test_round_trip_property(data, key, micros):
    e = Event("t", "/s", data, key=key, time=datetime(1990, 1, 1, tzinfo=UTC)
              + timedelta(microseconds=micros))
    back = Event.from_json(e.to_json())
    assert back == e or (data is None and back.data is None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(data=json_values, key=st.none() | st.text(min_size=1, max_size=6),
       text=st.text(min_size=1, max_size=6), seconds=st.integers(0, 10**9),
       micros=st.integers(0, 999_999))
def test_to_json_fast_path_writes_exactly_the_envelope(data, key, text, seconds, micros):
    e = Event(text, "/" + text, data, key=key, id=text,
              time=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds,
                                                                 microseconds=micros))
    assert e.to_json() == e._envelope_json()
    assert Event.from_json(e.to_json()) == e


_hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200)
       | st.dictionaries(st.sampled_from(["specversion", "id", "source", "type", "time",
                                          "partitionkey", "data", "data_base64", "subject",
                                          "datacontenttype", "ext1"]),
                         _hostile_values | st.just("1.0"), max_size=9
                         ).map(lambda d: json.dumps(d)))
def test_from_json_raises_only_event_error_on_any_input(text):
    try:
        event = Event.from_json(text)
    except EventError:
        return
    assert Event.from_json(event.to_json()) == event


def test_derived_events_are_the_checked_constructors_with_the_inputs_key_time_and_id():
    t = datetime(2024, 1, 1, tzinfo=UTC)
    inputs = [Event("in", "/a", {"n": 1}, key="k1", time=t, id="e1"),
              Event("in", "/a", None, time=t + timedelta(seconds=1), id="e2")]
    out = Event._derived("out", "/b", [{"n": 2}, [3]], inputs)
    assert out == [Event("out", "/b", {"n": 2}, key="k1", time=t, id="e1"),
                   Event("out", "/b", [3], time=t + timedelta(seconds=1), id="e2")]
    assert [type(e) for e in out] == [Event, Event]
    with pytest.raises(AttributeError, match="immutable"):
        out[0].data = None
    with pytest.raises(ValueError):  # one data per event, no more, no less
        Event._derived("out", "/b", [1], inputs)
