"""`@app.handler(..., breaker=CircuitBreaker(...))`: when the dependency is down the breaker
opens and the App pauses the handler's partitions instead of burning attempts into the
dead-letter topic; the backlog drains after recovery; each state change is an event on the
``breaker`` topic. On both brokers, under the app's virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edalab import App, Event
from edalab.resilience import Backoff, CircuitBreaker, Faults, Retry

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N = 300              # one event a second
OUTAGE = (100, 160)  # a 60-second outage of the dependency


def outage_run(broker, breaker: CircuitBreaker | None):
    """The stream through a handler whose dependency is down during OUTAGE, with retry
    topics (and the breaker, if any): the handled ids, the faults, the run statistics."""
    app = App(broker, partitions=2)
    faults = Faults(outage=[OUTAGE], clock=lambda: (app.now() - T0).total_seconds())
    model = faults.wrap(lambda event: event.id)
    handled = []

    @app.handler("payments", breaker=breaker, retry=Retry(
        max_attempts=5, mode="topics",
        backoff=Backoff.exponential(initial=1.0, factor=2.0, max=8.0, jitter="none")))
    def score(event):
        handled.append(model(event))

    app.source("payments", [Event("payment", "/tests", i, key=f"k{i % 8}", id=f"p{i}",
                                  time=T0 + timedelta(seconds=i)) for i in range(N)])
    stats = app.run(batch_size=5, timeout=120)
    return handled, faults, stats


def test_open_breaker_pauses_and_backlog_drains_with_no_dead_letters(broker):
    breaker = CircuitBreaker(failure_rate=0.5, window=10, open_for=10.0, half_open_calls=1,
                             name="model")
    handled, faults, stats = outage_run(broker, breaker)
    assert stats.stopped_by == "drained" and stats.final_lag == 0
    assert sorted(handled) == sorted(f"p{i}" for i in range(N))  # nothing lost
    assert stats.dead_letters == 0  # the outage put nothing in the dead-letter topic
    row = stats.to_frame().loc["score"]
    # Only calls that reached the dependency and failed are attempts: the events the open
    # breaker refused (BreakerOpen) spent none.
    assert row["retries"] == faults.by_kind["outage"]
    assert row["breaker_open_s"] >= 50  # paused for most of the outage, by the app's clock
    changes = [(e.data["from"], e.data["to"]) for e in
               (r.event for r in broker.read("breaker"))]
    assert changes[0] == ("closed", "open") and changes[-1] == ("half-open", "closed")
    assert ("open", "half-open") in changes


def test_breaker_cuts_calls_to_a_down_dependency_by_90_percent(broker):
    _, plain, plain_stats = outage_run(broker, None)
    breaker = CircuitBreaker(failure_rate=0.5, window=10, open_for=10.0, half_open_calls=1)
    _, guarded, _ = outage_run(broker, breaker)
    # Plain retries spend every attempt on the down dependency and dead-letter the events
    # that arrive during the outage; the breaker calls it only to probe.
    assert plain_stats.dead_letters > 0
    cut = 1 - guarded.by_kind["outage"] / plain.by_kind["outage"]
    assert cut >= 0.9, (guarded.by_kind, plain.by_kind)


def test_breaker_on_the_default_clock_follows_the_app_clock():
    app = App()
    breaker = CircuitBreaker(window=2, open_for=5.0)

    @app.handler("t", breaker=breaker)
    def sink(event):
        pass

    app.source("t", [Event("n", "/tests", 1, time=T0)])
    app.run()
    assert breaker.clock() == T0.timestamp()
    later = App()  # a notebook cell run again: the breaker follows the new app
    later.handler("u", breaker=breaker)(sink.fn)
    later.source("u", [Event("n", "/tests", 1, time=T0 + timedelta(hours=1))])
    later.run()
    assert breaker.clock() == (T0 + timedelta(hours=1)).timestamp()


def test_breaker_with_its_own_clock_keeps_it():
    app = App()
    breaker = CircuitBreaker(window=2, clock=lambda: 42.0)
    app.handler("t", breaker=breaker)(lambda event: None)
    app.source("t", [Event("n", "/tests", 1, time=T0)])
    app.run()
    assert breaker.clock() == 42.0
