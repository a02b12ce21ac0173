"""Run statistics stay bounded: latency samples in a reservoir, the timeline thinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edalab import App, Event
from edalab.runtime.stats import HandlerStats, Timeline

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_long_run_of_one_event_batches_keeps_bounded_latency_samples_and_timeline():
    app = App()
    app.handler("ticks")(lambda event: None)
    app.source("ticks", [Event("tick", "/t", None, time=T0 + timedelta(seconds=i))
                         for i in range(300_000)])
    stats = app.run(batch_size=1)
    [h] = stats.handlers
    assert h.events_in == h.samples_seen == 300_000
    assert h.latency().size == h.max_samples == 100_000
    assert len(stats.steps) <= Timeline().max_rows
    steps = stats.timeline["step"]
    assert steps.iloc[0] == 1 and steps.iloc[-1] == stats.steps[-1][0] > 300_000


def test_a_run_under_the_bounds_keeps_every_sample_and_every_step():
    app = App()
    app.handler("ticks")(lambda event: None)
    app.source("ticks", [Event("tick", "/t", None, time=T0 + timedelta(seconds=i))
                         for i in range(2500)])
    stats = app.run(batch_size=100)
    assert stats.handlers[0].latency().size == 2500  # 100 // 64: every event is sampled
    assert [row[0] for row in stats.steps] == list(range(1, len(stats.steps) + 1))


def test_latency_samples_are_uniform_over_the_whole_run_not_its_end():
    h = HandlerStats("h", "t", "g", max_samples=2000)
    for i in range(0, 200_000, 50):  # starts i..i+49 handled at 2i + 50: latencies in
        h.sample(float(2 * i + 50), [float(j) for j in range(i, i + 50)])  # (i, i + 50]
    latency = h.latency()
    assert latency.size == 2000 and h.samples_seen == 200_000
    assert len(set(latency)) == 2000  # each kept once
    assert abs(np.mean(latency <= 100_000) - 0.5) < 0.05  # as many from each half of the run


def test_virtual_time_latencies_are_seconds_of_event_time():
    h = HandlerStats("h", "t", "g")
    h.sample(T0 + timedelta(minutes=1), [T0, T0 + timedelta(seconds=59.5)])
    assert h.latency().tolist() == [60.0, 0.5]


def test_latency_samples_are_reproducible_with_the_same_seed():
    def kept(seed):
        h = HandlerStats("h", "t", "g", max_samples=100, seed=seed)
        for i in range(10_000):
            h.sample(float(i) + 1.0 + i % 7, [float(i)])
        return h.latency().tolist()

    assert kept(0) == kept(0) and kept(0) != kept(1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_samples_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_samples must be an int >= 1"):
        HandlerStats("h", "t", "g", max_samples=bad)


def test_timeline_keeps_at_most_max_rows_evenly_spread_over_the_run_and_its_last():
    timeline = Timeline(max_rows=100)
    for step in range(1, 100_001):
        timeline.append((step,))
        assert len(timeline) <= 100
    steps = [row[0] for row in timeline.rows()]
    assert steps[0] == 1 and steps[-1] == 100_000
    assert len(set(np.diff(steps[:-1]))) == 1  # one stride between the kept rows


@pytest.mark.parametrize("bad", [1, 0, 2.0])
def test_timeline_max_rows_must_be_an_int_of_at_least_two(bad):
    with pytest.raises(ValueError, match="max_rows must be an int >= 2"):
        Timeline(max_rows=bad)
