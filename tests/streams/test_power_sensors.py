from __future__ import annotations

from datetime import UTC

import pandas as pd
import pytest

from edalab import Event
from edalab.streams.power_sensors import (
    SensorGroup,
    power_sensors,
    sensor_events,
    sensor_registry,
)


def test_same_seed_same_readings_other_seed_other_readings():
    a = power_sensors(sensors=5, duration="10min", period_ms=2000, seed=1)
    assert a.equals(power_sensors(sensors=5, duration="10min", period_ms=2000, seed=1))
    b = power_sensors(sensors=5, duration="10min", period_ms=2000, seed=2)
    assert not a["valueInW"].equals(b["valueInW"])


def test_records_have_theodolite_schema_and_keys():
    df = power_sensors(sensors=4, duration=60, period_ms=1000, seed=0)
    assert list(df.columns) == ["identifier", "timestamp", "valueInW"]
    assert str(df["timestamp"].dtype) == "int64" and str(df["valueInW"].dtype) == "float64"
    assert sorted(df["identifier"].unique()) == ["s_0", "s_1", "s_2", "s_3"]


def test_each_sensor_reports_once_per_period_with_its_own_phase():
    df = power_sensors(sensors=6, duration="1min", period_ms=5000, seed=3)
    start_ms = pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000
    for _, group in df.groupby("identifier"):
        assert len(group) == 12
        assert set(group["timestamp"].diff().dropna()) == {5000}
        assert 0 <= group["timestamp"].iloc[0] - start_ms < 5000
    assert df.groupby("identifier")["timestamp"].first().nunique() > 1


def test_readings_are_sorted_by_timestamp():
    df = power_sensors(sensors=20, duration="5min", period_ms=700, seed=4)
    assert df["timestamp"].is_monotonic_increasing
    assert list(df.index) == list(range(len(df)))


def test_load_follows_a_daily_profile():
    df = power_sensors(sensors=30, duration="1D", period_ms=300_000, seed=5)
    hour = pd.to_datetime(df["timestamp"], unit="ms").dt.hour
    by_hour = df.groupby(hour)["valueInW"].mean()
    assert (df["valueInW"] > 0).all()
    assert by_hour.loc[18:20].mean() > 1.5 * by_hour.loc[1:4].mean()


def test_duration_takes_seconds_or_offsets_and_start_naive_as_utc():
    assert power_sensors(2, "1min", 1000).equals(power_sensors(2, 60, 1000))
    aware = power_sensors(2, 5, start="2024-03-01T01:00:00+01:00")
    assert aware.equals(power_sensors(2, 5, start="2024-03-01 00:00:00"))


@pytest.mark.parametrize("kwargs", [
    {"sensors": 0}, {"period_ms": 0}, {"duration": -1}, {"duration": "soon"},
])
def test_bad_parameters_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        power_sensors(**kwargs)


def test_sensor_events_carry_key_time_and_plain_data():
    df = power_sensors(sensors=3, duration=5, seed=6)
    events = list(sensor_events(df))
    assert len(events) == len(df)
    first = events[0]
    assert isinstance(first, Event)
    assert (first.type, first.source) == ("power.reading", "/edalab/sensors")
    assert first.key == df["identifier"].iloc[0]
    assert first.time == pd.Timestamp(int(df["timestamp"].iloc[0]), unit="ms", tz="UTC")
    assert {type(v) for v in first.data.values()} == {str, int, float}
    assert len({e.id for e in events}) == len(events)
    assert Event.from_json(first.to_json()) == first
    # built without Event's checks: each passes them unchanged
    assert all(Event(e.type, e.source, e.data, key=e.key, time=e.time, id=e.id) == e
               and e.time.tzinfo is UTC for e in events)


def test_registry_nests_groups_and_covers_every_sensor_once():
    root = sensor_registry(sensors=10, fanout=3, depth=3, seed=1)
    assert len(root.children) == 3
    assert all(len(g.children) == 3 for g in root.children)
    assert sorted(root.sensors(), key=lambda s: int(s[2:])) == [f"s_{i}" for i in range(10)]
    assert len(root.groups()) == 1 + 3 + 9


def test_registry_is_in_order_without_seed_and_shuffled_with_one():
    assert sensor_registry(4, fanout=2, depth=2).find("g_1_0").sensors() == ["s_0", "s_1"]
    shuffled = [sensor_registry(8, 2, 2, seed=s).find("g_1_0").sensors() for s in range(5)]
    assert any(s != ["s_0", "s_1", "s_2", "s_3"] for s in shuffled)
    assert sensor_registry(8, 2, 2, seed=3).sensors() == sensor_registry(8, 2, 2, seed=3).sensors()


def test_parent_map_has_one_row_per_edge():
    root = sensor_registry(sensors=8, fanout=2, depth=3)
    edges = root.parent_map()
    assert list(edges.columns) == ["child", "parent", "level", "is_sensor"]
    assert len(edges) == 2 + 4 + 8
    sensors = edges[edges["is_sensor"]]
    assert set(sensors["child"]) == set(root.sensors()) and set(sensors["level"]) == {3}
    parent_of = dict(zip(edges["child"], edges["parent"], strict=True))
    assert parent_of[parent_of["s_7"]] == "g_1_1" and parent_of["g_1_1"] == "root"


def test_group_lists_sensors_of_nested_groups():
    tree = SensorGroup("site", "Site", [SensorGroup("a", "A", ["s_1", SensorGroup(
        "b", "B", ["s_2"])]), "s_3"])
    assert tree.sensors() == ["s_1", "s_2", "s_3"]
    assert tree.find("b").sensors() == ["s_2"]
    with pytest.raises(KeyError):
        tree.find("nope")
