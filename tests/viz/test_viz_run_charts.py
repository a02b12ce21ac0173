"""Run charts know no case study: throughput and lag follow a run, events become a frame."""

from __future__ import annotations

import pandas as pd

from edalab import App, Event
from edalab.viz import events_frame, throughput_and_lag, throughput_frame

T = pd.date_range("2018-04-01", periods=6, freq="12h", tz="UTC")


def test_throughput_and_lag_follow_the_run():
    app = App()

    @app.handler("in")
    def sink(event):
        pass

    app.source("in", [Event("e", "/t", time=T[0]) for _ in range(5_000)])
    stats = app.run(batch_size=250)
    frame = throughput_frame(stats.timeline, points=5)
    assert len(frame) == 5 and frame["published"].iloc[-1] == 5_000
    assert frame["lag"].iloc[-1] == 0 and (frame["events_per_s"] > 0).all()
    fig = throughput_and_lag(stats.timeline, points=5)
    assert [len(t.x) for t in fig.data] == [5, 5]


def test_events_frame_flattens_event_data():
    e = Event("metric", "/m", {"name": "roc_auc", "value": 0.8, "n": 10}, time=T[0], id="m1")
    frame = events_frame([e])
    assert frame.loc[0, ["id", "name", "value", "n"]].tolist() == ["m1", "roc_auc", 0.8, 10]
    assert list(events_frame([]).columns) == ["time", "type", "id", "key"]
