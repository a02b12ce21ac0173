"""`Functions`: serverless functions run for real in worker processes on a broker."""

from __future__ import annotations

import pytest

from edalab import Event, MemoryBroker
from edalab.bench.serverless import measure_cold_starts
from edalab.brokers.base import dead_letter_topic
from edalab.serverless.functions import Functions
from tests.serverless.fns import double, echo, failing_init, slow_init


def _payments(broker, *data, topic="in"):
    broker.create_topic(topic)
    for d in data:
        broker.publish(topic, Event(type="payment", source="tests", data=d))


def test_an_instance_starts_cold_then_serves_warm_and_scales_to_zero():
    broker = MemoryBroker()
    _payments(broker, *({"x": i} for i in range(5)))
    broker.create_topic("out")
    with Functions(broker) as fns:
        fns.function("in", init=slow_init, concurrency=1, keep_alive=0.5, emit="out")(double)
        stats = fns.run(max_seconds=30, scale_to_zero=True)["double"]
        assert fns.instances() == 0
    assert (stats.events, stats.cold_starts, stats.errors) == (5, 1, 0)
    assert stats.cold_start_s[0] > 0.2  # a process start plus init's 0.2 s
    assert stats.throttled == 4  # one instance at a time: the other four waited
    assert [n for _, n in stats.instances] == [1, 0]
    assert [r.event.data["x"] for r in broker.read("out")] == [0, 2, 4, 6, 8]


def test_a_failing_event_is_dead_lettered_and_the_others_run():
    broker = MemoryBroker()
    _payments(broker, {"x": 1}, {"x": 2, "bad": True}, {"x": 3})
    with Functions(broker) as fns:
        fns.function("in", init=slow_init, concurrency=2)(double)
        stats = fns.run(max_seconds=30)["double"]
    assert (stats.events, stats.errors) == (2, 3)  # three attempts of the bad one
    dead = broker.read(dead_letter_topic("in"))
    assert len(dead) == 1 and "ValueError: bad payment" in dead[0].event.extensions["dlerror"]


def test_an_execution_past_its_timeout_is_ended_and_its_instance_stopped():
    broker = MemoryBroker()
    _payments(broker, {"x": 1, "hang": True})
    with Functions(broker) as fns:
        fns.function("in", init=slow_init, timeout=0.5)(double)
        stats = fns.run(max_seconds=60)["double"]
        assert fns.instances() == 0
    assert (stats.events, stats.errors, stats.cold_starts) == (0, 3, 3)
    assert "TimeoutError" in broker.read(dead_letter_topic("in"))[0].event.extensions["dlerror"]


def test_an_instance_whose_init_fails_starts_no_event():
    broker = MemoryBroker()
    _payments(broker, {"x": 1})
    with Functions(broker) as fns:
        fns.function("in", init=failing_init)(double)
        stats = fns.run(max_seconds=60)["double"]
    assert (stats.events, stats.errors, stats.cold_starts) == (0, 3, 0)
    dead = broker.read(dead_letter_topic("in"))[0].event
    assert "RuntimeError: model file missing" in dead.extensions["dlerror"]


@pytest.mark.parametrize("kwargs, message", [
    ({"concurrency": 0}, "concurrency must be an integer >= 1"),
    ({"timeout": 0}, "timeout must be > 0 seconds"),
    ({"keep_alive": -1}, "keep_alive must be >= 0 seconds"),
])
def test_a_function_with_bad_options_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Functions(MemoryBroker()).function("in", **kwargs)


def test_a_function_name_is_registered_once():
    fns = Functions(MemoryBroker())
    fns.function("a")(echo)
    with pytest.raises(ValueError, match="'echo' is registered already"):
        fns.function("b")(echo)


def test_fraud_scoring_cold_starts_are_measured_on_each_broker(broker):
    # A few here; `edalab bench serverless` measures 20 (each is a process start).
    stats = measure_cold_starts(broker, n=6, concurrency=2)
    assert (stats.events, stats.errors) == (6, 0)
    cold = stats.cold_start_ms()
    assert cold["n"] == 6 and 0 < cold["median"] <= cold["p99"]
    assert stats.instances[-1][1] == 0  # scaled to zero
