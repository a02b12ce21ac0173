from __future__ import annotations

import math
import time
from datetime import UTC

import numpy as np
import pandas as pd
import pytest

from edalab import Event
from edalab.streams.replay import replay


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "at": pd.to_datetime(["2024-01-01 00:00:03", "2024-01-01 00:00:01",
                              "2024-01-01 00:00:03", "2024-01-01 00:00:02"]),
        "card": [7, 9, 7, 8],
        "amount": [10.0, np.nan, 30.0, 20.0],
        "kind": ["tx", "tx", "refund", "tx"],
    })


def test_events_come_in_event_time_order_and_ties_keep_row_order():
    events = list(replay(frame(), time="at"))
    assert [e.time.second for e in events] == [1, 2, 3, 3]
    assert [e.id for e in events] == ["1", "3", "0", "2"]


def test_naive_times_are_taken_as_utc_and_aware_times_converted():
    naive = list(replay(frame(), time="at"))
    aware = frame().assign(at=frame()["at"].dt.tz_localize("Europe/Berlin"))
    shifted = list(replay(aware, time="at"))
    assert naive[0].time.tzinfo is UTC
    assert naive[0].time - shifted[0].time == pd.Timedelta(hours=1)


def test_epoch_numbers_need_a_unit_and_origin_shifts_them():
    df = pd.DataFrame({"t": [1_700_000_000_000, 1_699_999_999_000]})
    assert [e.time.timestamp() for e in replay(df, time="t", unit="ms")] == [
        1_699_999_999.0, 1_700_000_000.0]
    elapsed = pd.DataFrame({"Time": [0.0, 2.0]})  # the credit-card fraud CSV's clock
    first = next(replay(elapsed, time="Time", unit="s", origin="2013-09-01"))
    assert first.time == pd.Timestamp("2013-09-01", tz="UTC")
    with pytest.raises(ValueError, match="'t'.*unit="):
        replay(df, time="t")


def test_iso_strings_are_parsed_as_times():
    df = pd.DataFrame({"t": ["2024-01-01T00:00:01Z", "2024-01-01T01:00:00+02:00"]})
    assert [e.time.hour for e in replay(df, time="t")] == [23, 0]


def test_data_holds_plain_python_values():
    df = frame().assign(
        n=pd.array([1, None, 3, 4], dtype="Int64"),
        flag=[True, False, True, False],
        obj=[np.int64(5), np.float64("nan"), "x", None],
        cat=pd.Categorical(["a", None, "b", "a"]),
    )
    events = list(replay(df, time="at", key="card"))
    second = events[0].data  # the row with NaN amount and NA n
    assert second["amount"] is None and second["n"] is None and second["cat"] is None
    assert second["at"] == "2024-01-01T00:00:01"
    plain = (str, int, float, bool, type(None))
    for e in events:
        assert all(v.__class__ in plain for v in e.data.values()), e.data
        assert not any(isinstance(v, float) and math.isnan(v) for v in e.data.values())
        Event.from_json(e.to_json())


def test_options_choose_key_id_type_and_data_columns():
    df = frame().assign(tx_id=["a", "b", "c", "d"])
    events = list(replay(df, time="at", key="card", id="tx_id", type="kind",
                         source="/my/data", data=["amount"]))
    assert [e.id for e in events] == ["b", "d", "a", "c"]
    assert [e.type for e in events] == ["tx", "tx", "tx", "refund"]
    assert events[0].key == "9" and events[0].source == "/my/data"
    assert events[1].data == {"amount": 20.0}


def test_type_that_is_not_a_column_is_the_literal_type():
    assert {e.type for e in replay(frame(), time="at", type="card.tx")} == {"card.tx"}


def test_ids_are_deterministic_and_unique_even_with_a_duplicated_index():
    df = pd.concat([frame(), frame()])
    ids = [e.id for e in replay(df, time="at")]
    assert len(set(ids)) == len(ids) == 8
    assert ids == [e.id for e in replay(df, time="at")]


def test_replay_has_a_length():
    assert len(replay(frame(), time="at")) == 4


@pytest.mark.parametrize(("kwargs", "column"), [
    ({"time": "when"}, "when"),
    ({"time": "at", "key": "customer"}, "customer"),
    ({"time": "at", "id": "tx"}, "tx"),
    ({"time": "at", "data": ["amount", "fee"]}, "fee"),
    ({"time": "kind"}, "kind"),
])
def test_bad_columns_raise_value_error_naming_the_column(kwargs, column):
    with pytest.raises(ValueError, match=repr(column)):
        replay(frame(), **kwargs)


def test_missing_times_raise_value_error_naming_the_column():
    df = frame()
    df.loc[2, "at"] = pd.NaT
    with pytest.raises(ValueError, match=r"'at'.*NaT"):
        replay(df, time="at")


@pytest.mark.parametrize("speed", [0, -1, "fast"])
def test_speed_must_be_positive(speed):
    with pytest.raises(ValueError, match="speed"):
        replay(frame(), time="at", speed=speed)


def test_paced_replay_takes_event_time_over_speed():
    # 2 s of event time at speed 20: about 0.1 s of wall time.
    df = pd.DataFrame({"t": np.linspace(0.0, 2.0, 21)})
    started = time.monotonic()
    events = list(replay(df, time="t", unit="s", speed=20))
    elapsed = time.monotonic() - started
    assert len(events) == 21
    assert 0.08 <= elapsed < 1.0


def test_unpaced_replay_does_not_sleep():
    df = pd.DataFrame({"t": [0, 3600]})
    started = time.monotonic()
    assert len(list(replay(df, time="t", unit="s"))) == 2
    assert time.monotonic() - started < 0.5


def test_id_column_must_be_unique_and_type_column_complete():
    with pytest.raises(ValueError, match="'card'"):
        replay(frame(), time="at", id="card")
    df = frame()
    df.loc[0, "kind"] = None
    with pytest.raises(ValueError, match="'kind'"):
        replay(df, time="at", type="kind")


def test_a_simulator_frame_replays_like_its_own_events():
    from edalab.streams.power_sensors import power_sensors, sensor_events

    df = power_sensors(sensors=3, duration=10, seed=2)
    replayed = list(replay(df, time="timestamp", unit="ms", key="identifier"))
    native = list(sensor_events(df))
    assert [(e.key, e.time, e.data) for e in replayed] == [(e.key, e.time, e.data) for e in native]


def test_labels_with_the_same_string_are_refused_naming_them():
    df = pd.DataFrame({"t": [1, 2], 1: [10, 20], "1": [30, 40]})
    with pytest.raises(ValueError, match=r"column labels \[1, '1'\] are the same data key"):
        replay(df, time="t", unit="s")
    assert [e.data for e in replay(df, time="t", unit="s", data=["t", 1])] == [
        {"t": 1, "1": 10}, {"t": 2, "1": 20}]


INJECTION = "x'] or __import__('os').system('true') or ['"


class Label(str):
    """A string whose repr is code: it must never be run."""

    ran = False

    def __repr__(self) -> str:
        return "__import__('tests.streams.test_replay').streams.test_replay.Label.mark()"

    @classmethod
    def mark(cls) -> str:
        cls.ran = True
        return "ran"


class Column:
    """A column label whose string is a `Label`."""

    def __str__(self) -> str:
        return Label("evil")


def test_column_labels_are_only_keys_never_code():
    df = pd.DataFrame({"t": [1], INJECTION: [5], Column(): [6]})
    [event] = replay(df, time="t", unit="s")
    assert event.data == {"t": 1, INJECTION: 5, "evil": 6}
    assert not Label.ran
