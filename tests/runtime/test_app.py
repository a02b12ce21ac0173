"""App: handlers, outputs, failures and dead letters, clocks, run statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from edalab import App, Event, MemoryBroker
from edalab.errors import EdalabError
from edalab.runtime import HandlerError, NothingToRunError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def readings(n: int, keys: int = 3, start: int = 0) -> list[Event]:
    return [Event("reading", "/sensors", {"i": i, "watts": float(i % 50)}, key=f"s{i % keys}",
                  id=f"r{i}", time=T0 + timedelta(seconds=i)) for i in range(start, start + n)]


def test_pipeline_of_two_handlers_chains_through_topics():
    app = App(partitions=2)
    totals: dict[str, float] = {}

    @app.handler("readings", output="kilowatts")
    def to_kw(event):
        return event.replace(type="kilowatt", data={"kw": event.data["watts"] / 1000})

    @app.handler("kilowatts")
    def accumulate(event):
        totals[event.key] = totals.get(event.key, 0.0) + event.data["kw"]

    app.source("readings", readings(300))
    stats = app.run()
    frame = stats.to_frame()
    assert frame.loc["to_kw", "events_out"] == 300
    assert frame.loc["accumulate", "events_in"] == 300
    assert math.isclose(sum(totals.values()), sum(i % 50 for i in range(300)) / 1000)
    assert stats.final_lag == 0 and stats.stopped_by == "drained"


def test_handler_may_return_several_events_and_route_them():
    app = App()

    @app.handler("readings", output=lambda e: "high" if e.data["watts"] > 40 else "low")
    def split(event):
        return [event, event.replace(id=event.id + "-copy")]

    app.source("readings", readings(100))
    app.run()
    assert len(app.broker.read("high")) == 2 * sum(i % 50 > 40 for i in range(100))
    assert len(app.broker.read("high")) + len(app.broker.read("low")) == 200


def test_failing_handler_dead_letters_and_the_app_keeps_running():
    app = App()
    processed = []

    @app.handler("readings", max_attempts=2)
    def strict(event):
        if event.data["i"] % 10 == 3:
            raise ValueError(f"bad reading {event.id}")
        processed.append(event.id)

    app.source("readings", readings(100))
    stats = app.run()
    row = stats.to_frame().loc["strict"]
    assert len(processed) == 90 and row["dead_letters"] == 10 and row["errors"] == 20
    assert stats.dead_letters == 10 and stats.final_lag == 0
    dead = app.broker.read("readings.dlq")
    assert {r.event.id for r in dead} == {f"r{i}" for i in range(3, 100, 10)}
    assert dead[0].event.extensions["dlerror"] == "ValueError: bad reading r3"


def test_handler_returning_a_non_event_is_dead_lettered_with_a_clear_error():
    app = App()

    @app.handler("readings", output="out", max_attempts=1)
    def wrong(event):
        return {"not": "an event"}

    app.source("readings", readings(3))
    app.run()
    dead = app.broker.read("readings.dlq")
    assert len(dead) == 3
    assert "returned dict" in dead[0].event.extensions["dlerror"]


def test_events_without_an_output_topic_are_an_error():
    app = App()
    app.handler("readings")(lambda event: event)
    app.source("readings", readings(1))
    with pytest.raises(HandlerError, match="no output topic"):
        app.run()


def test_virtual_time_makes_runs_reproducible():
    def run_once():
        app = App(partitions=3)
        seen = []

        @app.handler("readings", output="flags")
        def flag(event):
            seen.append(app.now())
            if event.data["watts"] > 45:
                return event.replace(type="flag")

        app.source("readings", readings(2000, keys=7))
        stats = app.run(batch_size=100)
        cols = ["events_in", "events_out", "latency_p50_ms", "latency_p95_ms",
                "latency_p99_ms", "lag"]
        return stats.to_frame()[cols], seen, stats.timeline[["step", "clock", "lag"]]

    a, b = run_once(), run_once()
    assert a[0].equals(b[0]) and a[1] == b[1] and a[2].equals(b[2])
    assert a[0].loc["flag", "latency_p99_ms"] > 0  # events wait while the frontier moves on
    assert a[1][-1] == T0 + timedelta(seconds=1999)


def test_wall_clock_measures_real_latency():
    app = App()
    app.handler("readings")(lambda event: None)
    app.source("readings", readings(500))
    stats = app.run(clock="wall")
    frame = stats.to_frame()
    assert stats.clock == "wall" and 0 < frame.loc["<lambda>", "latency_p50_ms"] < 10_000
    assert stats.throughput > 0


def test_sources_are_merged_in_event_time_order():
    app = App()
    seen: dict[str, list[str]] = {"a": [], "b": []}
    order = []

    @app.handler("a", group="ga")
    def on_a(event):
        seen["a"].append(event.id)
        order.append(event.time)

    @app.handler("b", group="gb")
    def on_b(event):
        seen["b"].append(event.id)
        order.append(event.time)

    events = readings(50)
    app.source("a", events[::2])
    app.source("b", events[1::2])
    app.run(batch_size=7)
    assert seen == {"a": [e.id for e in events[::2]], "b": [e.id for e in events[1::2]]}
    assert app.broker.read("a")[0].event.id == "r0" and len(app.broker.read("b")) == 25


def test_max_events_stops_early():
    app = App()
    app.handler("readings")(lambda e: None)
    app.source("readings", iter(readings(1000)))
    stats = app.run(max_events=250, batch_size=100)
    assert stats.source_events == 250 and stats.stopped_by == "max_events"


def test_run_on_a_given_broker_with_existing_topics():
    broker = MemoryBroker()
    broker.create_topic("readings", partitions=4)
    app = App(broker)
    app.handler("readings")(lambda e: None)
    app.source("readings", readings(40))
    app.run()
    assert broker.partitions("readings") == 4 and broker.lag("readings", "<lambda>") == {
        0: 0, 1: 0, 2: 0, 3: 0}


def test_handler_test_runs_one_event_without_a_broker():
    app = App()

    @app.handler("readings", output="out")
    def double(event):
        return [event, event]

    assert len(double.test(readings(1)[0])) == 2


def test_stats_render_as_text_and_html():
    app = App()
    app.handler("readings")(lambda e: None)
    app.source("readings", readings(10))
    stats = app.run(progress=True)
    assert "10 source events" in str(stats) and "<table" in stats._repr_html_()


def test_batch_handler_gets_each_polled_batch_and_failures_fall_back_to_one_event():
    app = App()
    sizes: list[int] = []

    @app.handler("readings", output="doubled", batch=True, max_attempts=2)
    def double(events):
        sizes.append(len(events))
        if any(e.data["i"] == 7 for e in events):
            raise ValueError("reading 7 is bad")
        return [e.replace(type="doubled", data={"w": 2 * e.data["watts"]}) for e in events]

    app.source("readings", readings(250))
    stats = app.run(batch_size=100)
    assert sizes[0] == 100  # a whole polled batch in one call
    doubled = [r.event.data["w"] for r in app.broker.read("doubled")]
    assert len(doubled) == 249 and doubled[:3] == [0.0, 2.0, 4.0]
    dead = app.broker.read("readings.dlq")
    assert [r.event.id for r in dead] == ["r7"]
    assert "reading 7 is bad" in dead[0].event.extensions["dlerror"]
    assert stats.to_frame().loc["double", "dead_letters"] == 1
    assert double.test(readings(1)[0])[0].data == {"w": 0.0}


def test_batch_failure_keeps_the_handled_part_and_runs_only_the_rest_again():
    from edalab.runtime import BatchFailure

    app = App()
    handled: list[int] = []

    @app.handler("readings", output="doubled", batch=True, max_attempts=2)
    def double(events):
        out = []
        for i, e in enumerate(events):
            if e.data["i"] == 7:  # BatchFailure even as the first: App reports its cause
                raise BatchFailure(i, out) from ValueError("reading 7 is bad")
            handled.append(e.data["i"])
            out.append(e.replace(type="doubled", data={"w": 2 * e.data["watts"]}))
        return out

    app.source("readings", readings(30))
    stats = app.run(batch_size=10)
    assert sorted(handled) == [i for i in range(30) if i != 7]  # each once
    assert [r.event.data["w"] / 2 for r in app.broker.read("doubled")][:8] == [
        0, 1, 2, 3, 4, 5, 6, 8]
    dead = app.broker.read("readings.dlq")
    assert [r.event.id for r in dead] == ["r7"]
    assert "reading 7 is bad" in dead[0].event.extensions["dlerror"]
    assert stats.dead_letters == 1


def counting_app(broker: MemoryBroker) -> App:
    app = App(broker)

    @app.handler("readings")
    def sink(event):
        pass

    return app


def test_a_new_app_on_the_same_broker_takes_over_the_group_after_a_run():
    # Re-running a notebook cell makes a new App on the same broker, with the same handler
    # (the same consumer group): the first App's run has left the group, so the second
    # gets the partitions and goes on from the group's committed offsets.
    broker = MemoryBroker()
    first = counting_app(broker)
    first.source("readings", readings(10))
    assert first.run().to_frame().loc["sink", "events_in"] == 10
    assert broker.members("readings", "sink") == []
    second = counting_app(broker)
    second.source("readings", readings(5, start=10))
    stats = second.run()
    assert stats.to_frame().loc["sink", "events_in"] == 5 and stats.stopped_by == "drained"


def test_a_run_whose_group_is_held_by_another_member_warns_instead_of_hanging_quietly():
    broker = MemoryBroker()
    broker.create_topic("readings")
    holder = broker.subscribe("readings", group="sink")
    app = counting_app(broker)
    app.source("readings", readings(10))
    with pytest.warns(RuntimeWarning, match="'sink' got no partition of 'readings'.*1 other"):
        stats = app.run(timeout=0.2)
    assert stats.stopped_by == "timeout" and stats.to_frame().loc["sink", "events_in"] == 0
    holder.close()  # the next run gets the ten waiting and the ten its list source feeds again
    assert app.run().to_frame().loc["sink", "events_in"] == 20


class _Holder:
    """Holds every event until the stream ends (a handler with a `flush`)."""

    def __init__(self, fail_flush: bool = False):
        self.held: list[Event] = []
        self.flushed_at: list[datetime] = []
        self.fail_flush = fail_flush
        self.__name__ = "holder"

    def __call__(self, event: Event) -> None:
        self.held.append(event)

    def flush(self, now: datetime) -> list[Event]:
        self.flushed_at.append(now)
        if self.fail_flush:
            raise RuntimeError("cannot flush")
        out, self.held = [e.replace(type="released") for e in self.held], []
        return out


def test_run_flushes_handlers_when_the_sources_drain_and_downstream_handles_it():
    evs = [Event("n", "/t", i, time=T0 + timedelta(seconds=i)) for i in range(5)]
    holder, seen = _Holder(), []
    app = App()

    @app.handler("released")  # downstream, registered first
    def sink(event: Event) -> None:
        seen.append(event)

    app.handler("n", output="released")(holder)
    app.source("n", evs)
    stats = app.run()
    assert [e.data for e in seen] == list(range(5))
    assert holder.flushed_at == [evs[-1].time]  # once, at the app's (virtual) clock
    frame = stats.to_frame()
    assert frame.loc["holder", "events_out"] == 5 and frame.loc["sink", "lag"] == 0


def test_a_failing_flush_is_counted_and_does_not_stop_the_run():
    app = App()
    app.handler("n", output="out")(_Holder(fail_flush=True))
    app.source("n", [Event("n", "/t", 1, time=T0)])
    with pytest.warns(RuntimeWarning, match="'holder': flush failed: RuntimeError"):
        stats = app.run()
    assert stats.to_frame().loc["holder", "errors"] == 1 and stats.stopped_by == "drained"


def test_max_events_is_not_the_end_of_the_stream_so_nothing_is_flushed():
    holder = _Holder()
    app = App()
    app.handler("n", output="out")(holder)
    app.source("n", [Event("n", "/t", i, time=T0) for i in range(10)])
    app.run(max_events=3)
    assert holder.flushed_at == [] and len(holder.held) == 3


# -- what a run reports, and runs with nothing to do --------------------------------------------


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_latency_columns_keep_one_name_and_unit_and_state_the_clock(clock):
    app = App()
    app.handler("readings")(lambda event: None)
    app.source("readings", readings(300))
    frame = app.run(clock=clock, batch_size=100).to_frame()
    latency = [c for c in frame.columns if "p50" in c or "p95" in c or "p99" in c]
    assert latency == ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]
    assert frame["clock"].tolist() == [clock]


def test_virtual_latency_is_how_far_event_time_moved_in_milliseconds():
    app = App()
    app.handler("readings")(lambda event: None)
    app.source("readings", readings(200))  # one event a second
    frame = app.run(batch_size=100).to_frame()
    # The first event of a 100-event batch is handled when the clock is at the 100th: 99 s.
    assert frame.loc["<lambda>", "latency_p99_ms"] <= 99_000
    assert frame.loc["<lambda>", "latency_p50_ms"] >= 1_000


def test_run_without_handlers_or_sources_raises_nothing_to_run():
    with pytest.raises(NothingToRunError, match="no handlers and no sources"):
        App().run()
    assert issubclass(NothingToRunError, EdalabError) and issubclass(NothingToRunError,
                                                                     ValueError)


def test_serve_without_handlers_raises_nothing_to_run():
    with pytest.raises(NothingToRunError, match="no handlers to serve"):
        App().serve(timeout=0.1)


def test_sources_without_handlers_publish_and_report_an_empty_frame():
    app = App()
    app.source("readings", readings(10))
    stats = app.run()
    assert stats.source_events == 10 and "readings" in app.broker.topics()
    assert stats.to_frame().empty and "latency_p50_ms" in stats.to_frame().columns
    assert "10 source events" in str(stats)
