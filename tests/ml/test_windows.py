from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from river import stats

from edalab import App, Event
from edalab.ml.windows import HoppingWindow, SessionWindow, TumblingWindow

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AGG = {"pulse": stats.Mean, "spo2": stats.Min, "n": stats.Count, "total": stats.Sum}
VALUE = {"total": "pulse"}


def ward(n=1500, keys=("p1", "p2", "p3"), seed=0, bursty=False):
    """Readings in event-time order; some pulses missing (None)."""
    rng = random.Random(seed)
    t, rows = T0, []
    for i in range(n):
        t += timedelta(seconds=rng.expovariate(1 / 40) if not bursty or rng.random() < 0.9
                       else rng.uniform(600, 1800))
        pulse = None if rng.random() < 0.05 else round(rng.gauss(80, 10), 1)
        rows.append({"id": f"e{i}", "key": rng.choice(keys), "time": t, "pulse": pulse,
                     "spo2": round(rng.gauss(96, 2), 1)})
    return rows


def events(rows):
    return [Event("vitals", "/ward", {"pulse": r["pulse"], "spo2": r["spo2"]}, key=r["key"],
                  time=r["time"], id=r["id"]) for r in rows]


def run(op, evs):
    out = [r for e in evs for r in op.test(e)]
    return out + op.flush()


def frame(results):
    df = pd.DataFrame([r.data for r in results if r.type == "window.result"])
    df["start"] = pd.to_datetime(df["start"])
    return df.set_index(["key", "start"]).sort_index()


def expected(df, window):
    g = df.groupby(["key", window])
    out = pd.DataFrame({"count": g.size(), "pulse": g["pulse"].mean(), "spo2": g["spo2"].min(),
                        "n": g.size(), "total": g["pulse"].sum(min_count=1)})
    out.index.names = ["key", "start"]
    return out.sort_index()


def assert_same(got, want):
    assert list(got.index) == list(want.index)
    for col in want.columns:
        if col == "end":
            assert list(got[col]) == list(want[col]), col
            continue
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-9,
                                   err_msg=col)


def test_tumbling_equals_pandas_groupby():
    rows = ward()
    got = frame(run(TumblingWindow("15min", AGG, value=VALUE), events(rows)))
    df = pd.DataFrame(rows)
    want = expected(df, pd.Grouper(key="time", freq="15min", origin="epoch"))
    assert_same(got, want)


def test_hopping_equals_pandas_groupby_of_each_window():
    rows = ward(n=800)
    got = frame(run(HoppingWindow("20min", "5min", AGG, value=VALUE), events(rows)))
    df = pd.DataFrame(rows)
    size, hop = pd.Timedelta("20min"), pd.Timedelta("5min")
    last = df["time"].dt.floor(hop)  # the latest window start holding each event
    df = pd.concat([df.assign(start=last - k * hop) for k in range(size // hop)])
    assert_same(got, expected(df, "start"))


def test_session_equals_pandas_gap_split():
    rows = ward(n=800, bursty=True)
    gap = pd.Timedelta("5min")
    got = run(SessionWindow(gap, AGG, value=VALUE), events(rows))
    df = pd.DataFrame(rows).sort_values(["key", "time"], kind="stable")
    df["session"] = (df.groupby("key")["time"].diff() >= gap).groupby(df["key"]).cumsum()
    df["start"] = df.groupby(["key", "session"])["time"].transform("min")
    want = expected(df, "start")
    assert_same(frame(got), want)
    ends = df.groupby(["key", "start"])["time"].max() + gap
    assert [pd.Timestamp(r.data["end"]) for r in sorted(got, key=lambda r: (r.key, r.time))] \
        == list(ends.sort_index())


def shuffled(evs, delay, seed=1):
    """Each event arrives up to `delay` after its time (jitter, not lost data)."""
    rng = random.Random(seed)
    arrival = [e.time + timedelta(seconds=rng.uniform(0, delay.total_seconds())) for e in evs]
    return [e for _, e in sorted(zip(arrival, evs, strict=True), key=lambda p: p[0])]


@pytest.mark.parametrize("make", [
    lambda **kw: TumblingWindow("15min", AGG, value=VALUE, **kw),
    lambda **kw: HoppingWindow("20min", "5min", AGG, value=VALUE, **kw),
    lambda **kw: SessionWindow("5min", AGG, value=VALUE, **kw)])
def test_out_of_order_within_tolerance_gives_in_order_results(make):
    evs = events(ward(n=800, bursty=True))
    jittered = shuffled(evs, timedelta(minutes=3))
    assert jittered != evs
    for options in ({"out_of_orderness": "3min"}, {"allowed_lateness": "3min"}):
        op = make(**options)
        assert_same(frame(run(op, jittered)), frame(run(make(), evs)))
        assert op.stats["late"] == 0


def test_late_events_are_counted_and_routed_not_dropped():
    evs = events(ward(n=600))
    jittered = shuffled(evs, timedelta(minutes=30))
    op = TumblingWindow("15min", {"pulse": stats.Mean})
    out = run(op, jittered)
    late = [r for r in out if r.type == "window.late"]
    results = [r for r in out if r.type == "window.result"]
    assert op.stats["late"] == len(late) > 0
    assert sum(r.data["count"] for r in results) + len(late) == len(evs)
    assert {r.data["event_id"] for r in late} <= {e.id for e in evs}
    assert all(r.time < datetime.fromisoformat(r.data["watermark"]) for r in late)


def test_on_late_callback_receives_the_late_event():
    seen = []
    op = TumblingWindow(60, stats.Count, on_late=seen.append)
    early = Event("x", "/s", None, key="k", time=T0 + timedelta(seconds=10))
    assert op.test(Event("x", "/s", None, key="k", time=T0 + timedelta(seconds=70))) == []
    assert op.test(early) == [] and seen == [early] and op.stats["late"] == 1


def test_a_late_event_bridging_two_sessions_merges_them():
    op = SessionWindow("10min", {"n": stats.Count, "v": stats.Mean}, value={"v": "v"},
                       out_of_orderness="30min")
    for m, v in [(0, 1.0), (15, 3.0), (8, 5.0)]:  # 0 and 15 are 15 min apart; 8 joins both
        op.test(Event("x", "/s", {"v": v}, key="k", time=T0 + timedelta(minutes=m)))
    [r] = op.flush()
    assert (r.data["n"], r.data["v"], r.data["end"]) == (3, 3.0, "2024-01-01T00:25:00+00:00")


def test_state_is_only_the_open_windows():
    op = TumblingWindow("5min", {"pulse": stats.Mean}, key=True)
    for e in events(ward(n=3000)):
        op.test(e)
        assert op.stats["open"] <= 3  # one open window per key at most, in order
    assert op.stats["closed"] > 100


def test_all_missing_values_give_none_and_bad_ones_raise():
    op = TumblingWindow(60, {"pulse": stats.Mean})
    op.test(Event("x", "/s", {"pulse": None}, key="k", time=T0))
    [r] = op.flush()
    assert (r.data["count"], r.data["pulse"]) == (1, None)
    with pytest.raises(ValueError, match=r"'e9'.*'pulse'.*not numeric"):
        op.test(Event("x", "/s", {"pulse": "high"}, key="k", time=T0, id="e9"))
    with pytest.raises(ValueError, match=r"'e8'.*'pulse' is missing"):
        op.test(Event("x", "/s", {}, key="k", time=T0, id="e8"))


def test_app_flushes_open_windows_when_its_sources_drain():
    evs = events(ward(n=500))
    want = run(TumblingWindow("15min", AGG, value=VALUE), evs)
    app = App()
    op = TumblingWindow("15min", AGG, value=VALUE)
    app.handler("vitals", output="windows")(op)
    app.source("vitals", evs)
    stats = app.run()
    got = [r.event for r in app.broker.read("windows")]
    assert [(e.id, e.data) for e in got] == [(e.id, e.data) for e in want]
    assert op.stats["open"] == 0 and stats.to_frame().loc["tumblingwindow", "lag"] == 0


def test_app_flush_reaches_a_window_downstream_of_another():
    evs = events(ward(n=500))
    first = TumblingWindow("15min", AGG, value=VALUE)
    second = TumblingWindow("1h", {"n": stats.Count}, key=None, types=["window.result"])
    app = App()
    app.handler("second", group="second", output="hourly")(second)  # registered first
    app.handler("vitals", group="first", output="second")(first)
    app.source("vitals", evs)
    app.run()
    hourly = [r.event.data["n"] for r in app.broker.read("hourly")]
    assert sum(hourly) == len(app.broker.read("second")) == first.stats["closed"] > 0
    assert second.stats["open"] == 0


def test_each_window_kind_lives_in_its_own_small_module():
    from pathlib import Path

    import edalab.ml.windows as package

    kinds = {TumblingWindow: "tumbling", HoppingWindow: "hopping", SessionWindow: "session"}
    assert {cls.__module__ for cls in kinds} == {f"edalab.ml.windows.{m}" for m in kinds.values()}
    sizes = {p.name: len(p.read_text().splitlines())
             for p in Path(package.__file__).parent.glob("*.py")}
    assert {"base.py", "tumbling.py", "hopping.py", "session.py"} <= set(sizes)
    assert max(sizes.values()) < 450, sizes


@pytest.mark.parametrize("size", [float("nan"), "nan"])
def test_a_nan_window_size_is_refused_naming_the_size(size):
    with pytest.raises(ValueError, match=r"^size must be a duration > 0, got "):
        TumblingWindow(size, {"pulse": stats.Mean})
