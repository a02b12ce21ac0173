"""`@app.handler(..., retry=Retry(...))`: failed events are tried again after their backoff,
in place (blocking: key order kept) or through retry topics (healthy events flow on), and
dead-lettered with their error class, attempts and time spent. On both brokers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import App, Event, RunStats
from edalab.resilience import Backoff, Faults, PermanentError, Retry, TransientError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def events(n: int, keys: int = 4) -> list[Event]:
    return [Event("payment", "/tests", {"i": i}, key=f"k{i % keys}", id=f"p{i}",
                  time=T0 + timedelta(seconds=i)) for i in range(n)]


def seconds(app: App):
    """The app's clock as seconds since T0 (what `Faults` reads)."""
    return lambda: (app.now() - T0).total_seconds()


def dead(broker, topic: str = "payments") -> list[Event]:
    dlq = topic + ".dlq"
    return [r.event for r in broker.read(dlq)] if dlq in broker.topics() else []


@pytest.mark.parametrize("mode", ["blocking", "topics"])
def test_transient_errors_with_retry_lose_nothing_and_dead_letter_nothing(broker, mode):
    app = App(broker, partitions=2)
    faults = Faults(error_rate=0.1, seed=3, clock=seconds(app))
    handled = []

    @app.handler("payments", retry=Retry(max_attempts=6, mode=mode,
                                         backoff=Backoff.exponential(initial=0.5, max=5.0)))
    @faults
    def score(event):
        handled.append(event.id)

    app.source("payments", events(200))
    stats = app.run(batch_size=20, timeout=120)
    row = stats.to_frame().loc["score"]
    assert stats.stopped_by == "drained" and stats.final_lag == 0
    assert sorted(handled) == sorted(e.id for e in events(200))  # each once, none lost
    assert faults.failures > 0 and row["retries"] == faults.failures
    assert dead(broker) == [] and row["dead_letters"] == 0


def test_permanent_error_is_dead_lettered_at_once_naming_class_and_attempts(broker):
    app = App(broker)
    calls = []

    @app.handler("payments", retry=Retry(max_attempts=5, backoff=Backoff.fixed(1.0)))
    def score(event):
        calls.append(event.id)
        if event.id == "p3":
            raise PermanentError("amount is not a number")

    app.source("payments", events(6))
    stats = app.run(timeout=60)
    [letter] = dead(broker)
    assert calls.count("p3") == 1 and letter.id == "p3"
    assert letter.extensions["dlerror"] == "PermanentError: amount is not a number"
    assert letter.extensions["dlattempts"] == 1 and letter.extensions["dlspentms"] == 0
    assert stats.to_frame().loc["score", "retries"] == 0 and stats.final_lag == 0


def test_give_up_on_type_is_dead_lettered_at_once():
    app = App()

    @app.handler("payments", retry=Retry(max_attempts=5, give_up_on=KeyError))
    def score(event):
        raise KeyError("amount")

    app.source("payments", events(2))
    stats = app.run()
    assert stats.dead_letters == 2
    assert [e.extensions["dlattempts"] for e in dead(app.broker)] == [1, 1]


def test_last_attempt_dead_letter_records_attempts_and_time_spent(broker):
    app = App(broker)

    @app.handler("payments", retry=Retry(max_attempts=3, backoff=Backoff.fixed(2.0)))
    def score(event):
        raise TransientError("model server busy")

    app.source("payments", events(1))
    stats = app.run(timeout=60)
    [letter] = dead(broker)
    assert letter.extensions["dlerror"] == "TransientError: model server busy"
    assert letter.extensions["dlattempts"] == 3
    assert letter.extensions["dlspentms"] == 4000  # two waits of 2 s, of virtual time
    row = stats.to_frame().loc["score"]
    assert (row["retries"], row["errors"], row["dead_letters"]) == (2, 3, 1)


def test_topics_mode_dead_letter_keeps_the_original_position():
    app = App()

    @app.handler("payments", retry=Retry(max_attempts=3, mode="topics",
                                         backoff=Backoff.fixed(1.0)))
    def score(event):
        if event.id == "p2":
            raise TransientError("busy")

    app.source("payments", events(4))
    app.run()
    [letter] = dead(app.broker)
    ext = letter.extensions
    assert (ext["dltopic"], ext["dlpartition"], ext["dloffset"], ext["dlattempts"]) == \
        ("payments", 0, 2, 3)
    assert not [k for k in ext if k.startswith("retry")]
    assert [len(app.broker.read(f"payments.retry.{n}")) for n in (1, 2)] == [1, 1]


def poisoned_run(broker, mode: str, batch_size: int = 1) -> list[str]:
    """One partition, one poisoned event (p2) that fails every attempt: the handling order."""
    app = App(broker)
    order = []

    @app.handler("payments", retry=Retry(max_attempts=3, mode=mode,
                                         backoff=Backoff.fixed(30.0)))
    def score(event):
        order.append(event.id)
        if event.id == "p2":
            raise TransientError("poison")

    app.source("payments", events(8, keys=1))
    stats = app.run(batch_size=batch_size, timeout=60)
    assert stats.final_lag == 0 and [e.id for e in dead(broker)] == ["p2"]
    return order


@pytest.mark.parametrize("batch_size", [1, 4])
def test_blocking_retry_keeps_key_order_behind_a_failing_event(broker, batch_size):
    # In batches of 4 the events polled with p2 wait too (given back, not run).
    order = poisoned_run(broker, "blocking", batch_size)
    assert order == ["p0", "p1", "p2", "p2", "p2", "p3", "p4", "p5", "p6", "p7"]


def test_retry_topics_let_healthy_events_pass_a_poisoned_one(broker):
    order = poisoned_run(broker, "topics")
    # p3..p7 arrive one second apart, so all of them run before p2's first retry is due.
    assert order[:8] == ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"]
    assert order[8:] == ["p2", "p2"]


def test_timeout_counts_a_slow_call_as_a_failed_attempt():
    import time
    app = App()

    @app.handler("payments", retry=Retry(max_attempts=2, backoff=Backoff.fixed(0),
                                         timeout=0.01))
    def score(event):
        if event.id == "p1":
            time.sleep(0.03)

    app.source("payments", events(3))
    stats = app.run()
    [letter] = dead(app.broker)
    assert letter.id == "p1" and letter.extensions["dlattempts"] == 2
    assert letter.extensions["dlerror"] == ("TransientError: handler 'score' did not return "
                                            "within its timeout of 0.01 s")
    assert stats.to_frame().loc["score", "events_in"] == 4


def test_timeout_gives_up_on_a_call_that_hangs_and_the_run_goes_on():
    import threading
    import time
    answer = threading.Event()  # the dependency answers only once the test is over
    app, tries = App(), []

    @app.handler("payments", retry=Retry(max_attempts=3, backoff=Backoff.fixed(1.0),
                                         timeout=0.2))
    def score(event):
        tries.append(event.id)
        if event.id == "p1" and tries.count("p1") == 1:
            answer.wait(30)  # hangs: no answer for 30 s

    app.source("payments", events(3))
    began = time.perf_counter()
    stats = app.run()
    answer.set()
    assert time.perf_counter() - began < 5  # not the 30 s of the hung call
    assert tries == ["p0", "p1", "p1", "p2"] or tries == ["p0", "p1", "p2", "p1"]
    assert dead(app.broker) == [] and stats.to_frame().loc["score", "retries"] == 1


def test_max_attempts_alone_keeps_immediate_redelivery():
    app = App()
    calls = []

    @app.handler("payments", max_attempts=2)
    def score(event):
        calls.append(event.id)
        raise ValueError("bad")

    app.source("payments", events(1))
    assert app.run().dead_letters == 1 and calls == ["p0", "p0"]
    assert score.guard is None  # no option: the plain step, no per-event work added


def test_handler_options_are_checked():
    app = App()
    with pytest.raises(ValueError, match="not both"):
        app.handler("t", max_attempts=2, retry=Retry())
    with pytest.raises(TypeError, match="retry must be an edalab.resilience.Retry"):
        app.handler("t", retry=3)
    with pytest.raises(TypeError, match="breaker must be"):
        app.handler("t", breaker="model")
    with pytest.raises(TypeError, match="idempotent must be True, False or"):
        app.handler("t", idempotent="yes")
    with pytest.raises(ValueError, match="idempotency_key needs idempotent=True"):
        app.handler("t", idempotency_key=lambda e: e.id)


def blocking_run(broker, failures: int, backoff: float) -> tuple[list[str], RunStats]:
    """A wall-time run of three events of one key whose handler fails ``p1`` `failures`
    times (transiently) under a blocking retry: the order the events succeeded in, and the
    run's statistics."""
    app = App(broker)
    order, tries = [], {"p1": 0}

    @app.handler("payments", retry=Retry(max_attempts=3, backoff=Backoff.fixed(backoff)))
    def score(event):
        if event.id == "p1" and tries["p1"] < failures:
            tries["p1"] += 1
            raise TransientError("busy")
        order.append(event.id)

    app.source("payments", events(3, keys=1))
    return order, app.run(clock="wall", timeout=30)


def test_blocking_retry_waits_in_wall_time(broker):
    # Wall time: the partition is paused for the backoff (and on NATS read again from the
    # failed event when it is due); the event after the failing one waits behind it.
    order, stats = blocking_run(broker, failures=2, backoff=0.3)
    assert order == ["p0", "p1", "p2"] and stats.dead_letters == 0
    assert stats.wall_seconds >= 0.6  # two waits of 0.3 s


def test_unpublishable_output_of_a_guarded_handler_fails_only_its_input():
    app = App()

    @app.handler("payments", output="scored",
                 retry=Retry(max_attempts=2, backoff=Backoff.fixed(1.0)))
    def score(event):
        return event.replace(type="scored", data=float("nan") if event.id == "p1" else 1.0)

    app.source("payments", events(3))
    stats = app.run()
    assert [r.event.id != "p1" for r in app.broker.read("scored")] == [True, True]
    [letter] = dead(app.broker)
    assert letter.id == "p1" and letter.extensions["dlattempts"] == 2
    assert letter.extensions["dlerror"].startswith("HandlerError: handler 'score' emitted")
    assert stats.to_frame().loc["score", "events_out"] == 2


def test_serving_worker_runs_retry_topics_in_wall_time(broker):
    broker.create_topic("payments")
    broker.publish_many("payments", events(5))
    app = App(broker)
    tries = []

    @app.handler("payments", retry=Retry(max_attempts=3, mode="topics",
                                         backoff=Backoff.fixed(0.2)))
    def score(event):
        tries.append(event.id)
        if event.id == "p1" and tries.count("p1") < 3:
            raise TransientError("busy")

    stats = app.serve(idle=1.0, timeout=30)
    assert tries == ["p0", "p1", "p2", "p3", "p4", "p1", "p1"]
    assert stats.dead_letters == 0 and stats.final_lag == 0
    assert stats.to_frame().loc["score", "retries"] == 2


def test_blocking_retry_on_nats_seeks_again_when_the_seek_fails(nats_broker, monkeypatch):
    # A blocking retry reads its partition again from the failed event when due (a seek). A
    # seek that fails (the broker failing over) is tried again a second later, the partition
    # still paused: the run goes on and the key keeps its order.
    from edalab.brokers.nats.consumer import NatsConsumer

    seek, seeks = NatsConsumer.seek, []

    def flaky_seek(self, position, partition=None):
        seeks.append(position)
        if len(seeks) == 1:
            raise TimeoutError("nats: timeout")  # what nats-py raises mid-failover
        return seek(self, position, partition)

    monkeypatch.setattr(NatsConsumer, "seek", flaky_seek)
    order, stats = blocking_run(nats_broker, failures=1, backoff=0.2)
    assert order == ["p0", "p1", "p2"] and stats.dead_letters == 0
    assert len(seeks) == 2 and seeks[0] == seeks[1]  # the same offset, sought again
