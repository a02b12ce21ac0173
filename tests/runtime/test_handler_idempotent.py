"""`@app.handler(..., idempotent=True)`: an event whose key was handled is acked and skipped
(counted in the run's ``duplicates``), so publishing the same events twice applies each once.
On both brokers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edalab import App, Event
from edalab.resilience import Backoff, Faults, Retry, SqliteIdempotencyStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def payments(n: int) -> list[Event]:
    return [Event("payment", "/tests", {"i": i}, key=f"k{i % 3}", id=f"p{i}",
                  time=T0 + timedelta(seconds=i)) for i in range(n)]


def test_idempotent_handler_applies_each_event_once_when_published_twice(broker):
    app = App(broker, partitions=2)
    applied = []

    @app.handler("payments", idempotent=True, output="scored")
    def score(event):
        applied.append(event.id)
        return event.replace(type="scored")

    app.source("payments", payments(50) + payments(50))  # the same ids, twice
    stats = app.run(batch_size=20, timeout=60)
    row = stats.to_frame().loc["score"]
    assert sorted(applied) == sorted(e.id for e in payments(50))
    assert (row["events_in"], row["duplicates"], row["events_out"]) == (100, 50, 50)
    assert len(broker.read("scored")) == 50 and stats.final_lag == 0


def test_idempotent_with_retries_under_transient_errors_applies_each_once(broker):
    app = App(broker)
    faults = Faults(error_rate=0.1, seed=5, clock=lambda: 0.0)
    applied = []

    @app.handler("payments", idempotent=True,
                 retry=Retry(max_attempts=6, mode="topics", backoff=Backoff.fixed(1.0)))
    @faults
    def score(event):
        applied.append(event.id)

    app.source("payments", payments(100) + payments(100))
    stats = app.run(batch_size=25, timeout=60)
    assert faults.failures > 0 and stats.dead_letters == 0
    assert sorted(applied) == sorted(e.id for e in payments(100))


def test_idempotency_key_function_and_a_durable_store(tmp_path):
    store = SqliteIdempotencyStore(tmp_path / "handled.db")
    applied = []

    def run(events):
        app = App()

        @app.handler("payments", idempotent=store, idempotency_key=lambda e: str(e.data["i"]))
        def score(event):
            applied.append(event.id)

        app.source("payments", events)
        return app.run().to_frame().loc["score", "duplicates"]

    assert run(payments(5)) == 0
    # New ids, the same business keys: skipped by the key function, across apps.
    assert run([e.replace(id=f"again{i}") for i, e in enumerate(payments(5))]) == 5
    assert applied == [f"p{i}" for i in range(5)]
    store.close()
