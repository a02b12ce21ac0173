"""`edalab.streams.events_frame`: the one way edalab turns events into a DataFrame."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from edalab import Event
from edalab.streams import events_frame

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_events_frame_has_the_envelope_and_the_data_fields_in_first_seen_order():
    events = [Event("a", "/t", {"x": 1}, key="k1", time=T, id="1"),
              Event("b", "/t", {"y": "z", "x": 2}, key="k2", time=T, id="2"),
              Event("c", "/t", [1, 2], time=T, id="3")]  # data that is not a mapping: no field
    frame = events_frame(events)
    assert list(frame.columns) == ["time", "type", "id", "key", "x", "y"]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["x"].tolist()[:2] == [1, 2] and math.isnan(frame["x"].iloc[2])


def test_events_frame_keeps_only_the_fields_asked_for_and_marks_absent_ones_nan():
    frame = events_frame([Event("a", "/t", {"x": 1, "y": 2}, time=T)], ["y", "w"])
    assert list(frame.columns) == ["time", "type", "id", "key", "y", "w"]
    assert frame["y"].iloc[0] == 2 and math.isnan(frame["w"].iloc[0])


def test_events_frame_of_no_events_has_the_envelope_columns():
    assert list(events_frame([], ["x"]).columns) == ["time", "type", "id", "key", "x"]
