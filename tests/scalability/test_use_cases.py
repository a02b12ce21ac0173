"""Each use case's results equal a pandas computation of the same windows on a seeded
stream, on the embedded broker and on NATS (the `broker` fixture)."""

from __future__ import annotations

import pandas as pd
import pytest

from edalab.scalability import registry_event, use_case
from edalab.streams import power_sensors, sensor_events, sensor_registry
from tests.scalability import reference

STATS = ["count", "sum", "min", "max", "mean", "variance"]


def _results(app, kind: str) -> pd.DataFrame:
    events = [r.event for r in app.broker.read("output")]
    assert {e.type for e in events} == {kind}  # no late reading among them
    return pd.DataFrame([e.data for e in events])


def _ms(iso: pd.Series) -> pd.Series:
    return iso.map(lambda text: round(pd.Timestamp(text).timestamp() * 1000))


def _check_windows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.assign(start=_ms(got["start"]))[["key", "start", *STATS]]
    got = got.sort_values(["key", "start"]).reset_index(drop=True)
    want = want.sort_values(["key", "start"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[["key", "start", *STATS]], check_dtype=False,
                                  rtol=1e-9)


def test_uc1_stores_every_reading_once(broker, tmp_path):
    df = power_sensors(sensors=5, duration=40, seed=3)
    app = use_case("uc1", broker, db=str(tmp_path / "uc1.db"), partitions=4)
    app.source("input", list(sensor_events(df)))
    app.run()
    rows = pd.read_sql("SELECT identifier, timestamp, value_w AS valueInW FROM readings",
                       app.store._db)  # the database as any reader sees it
    pd.testing.assert_frame_equal(rows.sort_values(["timestamp", "identifier"]).reset_index(
        drop=True), df.sort_values(["timestamp", "identifier"]).reset_index(drop=True))


def test_uc2_windows_equal_pandas_tumbling_minutes(broker):
    df = power_sensors(sensors=4, duration="5min", seed=5)
    app = use_case("uc2", broker, partitions=4)
    app.source("input", list(sensor_events(df)))
    app.run(batch_size=20)
    _check_windows(_results(app, "power.window"), reference.tumbling(df, 60_000))


def test_uc3_windows_equal_pandas_hopping_by_hour_of_day(broker):
    df = power_sensors(sensors=3, duration="6h", period_ms=60_000, seed=7)
    app = use_case("uc3", broker, window="3h", hop="1h", grace="2min", partitions=4)
    app.source("input", list(sensor_events(df)))
    app.run(batch_size=3)
    _check_windows(_results(app, "power.window"), reference.hopping(df, 3 * 3_600_000, 3_600_000))


def test_uc3_defaults_are_thirty_day_windows_advancing_a_day():
    op = use_case("uc3").handlers[0].fn
    assert (op.size, op.hop) == (30 * 86_400_000_000, 86_400_000_000)


def _uc4_run(broker, df, versions, sensors):
    app = use_case("uc4", broker, partitions=4)
    app.source("configuration", [registry_event(root, since) for since, root in versions])
    app.source("input", list(sensor_events(df)))
    stats = app.run(batch_size=sensors // 4)  # a quarter second of readings per step
    assert stats.dead_letters == 0
    got = _results(app, "power.aggregated")
    got = got[["identifier", "start", "sumInW", "count", "averageInW"]]
    return got.sort_values(["identifier", "start"]).reset_index(drop=True)


def _check_hierarchy(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.sort_values(["identifier", "start"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["identifier", "start", "sumInW", "count"]],
                                  want[["identifier", "start", "sumInW", "count"]],
                                  check_dtype=False, rtol=1e-9)
    assert (got["averageInW"] == got["sumInW"] / got["count"]).all()


def test_uc4_groups_at_every_level_equal_pandas(broker):
    sensors = 16
    df = power_sensors(sensors=sensors, duration=40, seed=11)
    root = sensor_registry(sensors=sensors, fanout=2, depth=3, seed=2)  # 3 levels of groups
    versions = [(int(df["timestamp"].min()), root)]
    got = _uc4_run(broker, df, versions, sensors)
    _check_hierarchy(got, reference.hierarchy(df, versions, 5_000))
    assert set(got["identifier"]) == {g.identifier for g in root.groups()}
    assert got.loc[got["identifier"] == "root", "count"].max() == sensors


def test_uc4_registry_change_applies_from_its_time(broker):
    sensors = 16
    df = power_sensors(sensors=sensors, duration=40, seed=13)
    t0 = int(df["timestamp"].min())
    before = sensor_registry(sensors=sensors, fanout=4, depth=2)  # 4 children per group
    after = sensor_registry(sensors=sensors, fanout=2, depth=3, seed=4)  # regrouped, nested
    versions = [(t0, before), (t0 + 20_000, after)]
    got = _uc4_run(broker, df, versions, sensors)
    _check_hierarchy(got, reference.hierarchy(df, versions, 5_000))
    assert {"g_1_3", "g_2_3"} <= set(got["identifier"])  # groups of both registries


def test_use_case_unknown_name_says_which_exist():
    with pytest.raises(ValueError, match="unknown use case 'uc9'; choose from uc1, uc2"):
        use_case("uc9")
