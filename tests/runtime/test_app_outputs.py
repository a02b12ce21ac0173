"""What a handler emits is published once and whole: an output that cannot be routed or
written fails the input that emitted it (retried, then dead-lettered with the reason), and the
other inputs' outputs are published once, however often the app is run again. On both
brokers: the embedded one and a real NATS server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edalab import App, Event

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BAD = 2  # the input whose output goes wrong


def feed(broker, n: int = 5) -> None:
    broker.create_topic("in")
    broker.publish_many("in", [Event("n", "/tests", {"i": i}, key=f"k{i}", id=f"in{i}",
                                     time=T0 + timedelta(seconds=i)) for i in range(n)])


def run_twice(app: App) -> list:
    """Run the app, then again on the same broker (it must find nothing left to do)."""
    first = app.run(timeout=60)
    second = app.run(timeout=60)
    assert first.stopped_by == second.stopped_by == "drained"
    return [first, second]


def dead_letters(broker) -> list[Event]:
    return [r.event for r in broker.read("in.dlq")]


def out_ids(broker, *topics: str) -> list[str]:
    return sorted(r.event.id for t in topics for r in broker.read(t))


def scored(event: Event, score: object) -> Event:
    return Event("scored", "/tests", {"id": event.id, "score": score}, key=event.key,
                 id="out" + event.id[2:], time=event.time)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.int64(7), 10**5000],
                         ids=["nan", "inf", "np.int64", "huge-int"])
def test_unwritable_output_fails_its_input_and_the_rest_is_published_once(broker, bad):
    feed(broker)
    app = App(broker)

    @app.handler("in", output="out", max_attempts=2)
    def score(event):
        return scored(event, bad if event.data["i"] == BAD else 0.5)

    run_twice(app)
    assert out_ids(broker, "out") == ["out0", "out1", "out3", "out4"]
    [dead] = dead_letters(broker)
    assert dead.id == f"in{BAD}" and dead.extensions["dlattempts"] == 2
    assert "handler 'score' emitted an event that cannot be published" in \
        dead.extensions["dlerror"]
    assert "JSON-serialisable" in dead.extensions["dlerror"]


def test_unwritable_routed_output_publishes_nothing_of_its_input_on_any_topic(broker):
    # Routed to two topics: the other topic's output of the bad input is not published either.
    feed(broker)
    app = App(broker)

    @app.handler("in", output=lambda e: e.type, max_attempts=1)
    def fan_out(event):
        bad = float("nan") if event.data["i"] == BAD else 0.5
        return [scored(event, 0.5).replace(type="a", id=f"a{event.data['i']}"),
                scored(event, bad).replace(type="b", id=f"b{event.data['i']}")]

    run_twice(app)
    assert out_ids(broker, "a", "b") == ["a0", "a1", "a3", "a4", "b0", "b1", "b3", "b4"]
    assert [e.id for e in dead_letters(broker)] == [f"in{BAD}"]


def test_generator_handler_that_raises_midway_fails_its_event_and_drops_what_it_yielded(broker):
    feed(broker)
    app = App(broker)

    @app.handler("in", output="out", max_attempts=1)
    def twice(event):
        i = event.data["i"]
        yield scored(event, 0.5).replace(id=f"{i}a")
        if i == BAD:
            raise RuntimeError("sensor gone")
        yield scored(event, 0.5).replace(id=f"{i}b")

    stats = run_twice(app)[0]
    assert out_ids(broker, "out") == ["0a", "0b", "1a", "1b", "3a", "3b", "4a", "4b"]
    [dead] = dead_letters(broker)
    assert dead.id == f"in{BAD}"
    assert dead.extensions["dlerror"] == "RuntimeError: sensor gone"
    assert stats.to_frame().loc["twice", "events_out"] == 8


def bad_route(kind: str):
    def route(event: Event) -> object:
        if event.id != f"out{BAD}":
            return "out"
        if kind == "raises":
            raise KeyError("region")
        return {"None": None, "int": 42, "empty": ""}[kind]
    return route


@pytest.mark.parametrize(("kind", "reason"), [
    ("None", "its output function returned None for an emitted 'scored' event; "
     "it must return a topic name (a non-empty str)"),
    ("int", "its output function returned 42 for an emitted 'scored' event; "
     "it must return a topic name (a non-empty str)"),
    ("empty", "its output function returned '' for an emitted 'scored' event; "
     "it must return a topic name (a non-empty str)"),
    ("raises", "its output function failed on an emitted 'scored' event: KeyError: 'region'"),
], ids=["None", "int", "empty", "raises"])
def test_failing_output_function_fails_only_its_input(broker, kind, reason):
    feed(broker)
    app = App(broker)

    @app.handler("in", output=bad_route(kind), max_attempts=1)
    def score(event):
        return scored(event, 0.5)

    run_twice(app)
    assert out_ids(broker, "out") == ["out0", "out1", "out3", "out4"]
    [dead] = dead_letters(broker)
    assert dead.id == f"in{BAD}"
    assert dead.extensions["dlerror"] == f"HandlerError: handler 'score': {reason}"


def test_output_function_naming_an_unusable_topic_fails_only_its_input(nats_broker):
    # The embedded broker takes any non-empty name; a NATS subject cannot hold a space.
    feed(nats_broker)
    app = App(nats_broker)

    @app.handler("in", output=lambda e: "no such topic" if e.id == f"out{BAD}" else "out",
                 max_attempts=1)
    def score(event):
        return scored(event, 0.5)

    run_twice(app)
    assert out_ids(nats_broker, "out") == ["out0", "out1", "out3", "out4"]
    [dead] = dead_letters(nats_broker)
    assert "returned 'no such topic'" in dead.extensions["dlerror"]
    assert "that topic cannot be used: ValueError" in dead.extensions["dlerror"]


def test_batch_handler_with_an_unwritable_output_runs_one_event_at_a_time(broker):
    feed(broker)
    app = App(broker)
    calls = []

    @app.handler("in", output="out", batch=True, max_attempts=1)
    def score(events):
        calls.append([e.data["i"] for e in events])
        return [scored(e, float("nan") if e.data["i"] == BAD else 0.5) for e in events]

    run_twice(app)
    assert out_ids(broker, "out") == ["out0", "out1", "out3", "out4"]
    assert [e.id for e in dead_letters(broker)] == [f"in{BAD}"]
    # The batch call holding the bad event (a poll on NATS may hold fewer than all five),
    # then that batch again one event at a time.
    j = next(k for k, batch in enumerate(calls) if BAD in batch)
    assert calls[j + 1:j + 1 + len(calls[j])] == [[i] for i in calls[j]]


def test_a_source_event_no_broker_can_carry_is_dead_lettered_and_the_rest_flow(broker):
    events = [Event("n", "/tests", {"i": i, "w": float("nan") if i == BAD else 1.0},
                    key=f"k{i}", id=f"in{i}", time=T0 + timedelta(seconds=i))
              for i in range(5)]
    app = App(broker)
    seen = []
    app.handler("in", group="sink")(lambda event: seen.append(event.id))
    app.source("in", events)
    stats = app.run(timeout=60)
    assert stats.stopped_by == "drained" and stats.dead_letters == 1
    assert sorted(seen) == ["in0", "in1", "in3", "in4"]
    [dead] = dead_letters(broker)
    assert (dead.type, dead.id, dead.extensions["dltype"]) == ("edalab.unpublishable", "in2", "n")
    assert "nan" in dead.data and "JSON-serialisable" in dead.extensions["dlerror"]
