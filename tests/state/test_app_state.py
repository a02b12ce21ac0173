"""`@app.handler(topic, state=...)`: keyed state checkpointed with offsets, restored where a
partition goes, exactly as one process would have it (the embedded broker; the other
backends and NATS workers have their own tests)."""

from __future__ import annotations

import pytest

from edalab import App, Event, MemoryBroker
from edalab.state import MemoryState, State
from tests.state.joining import run_while_a_member_joins

N, KEYS = 2000, 37


def numbers(n: int = N):
    return [Event("n", "/tests", i % 11, key=f"k{i % KEYS}", id=f"e{i}") for i in range(n)]


def counting_app(broker, every: int = 50, partitions: int = 4) -> App:
    app = App(broker, partitions=partitions)

    @app.handler("n", output="totals", state=State(every=every,
                                                   default=lambda: {"n": 0, "sum": 0}))
    def count(event, state):
        total = state.get()
        total["n"] += 1
        total["sum"] += event.data
        return Event("total", "/tests", dict(total), key=event.key)
    return app


def expected() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in numbers():
        t = out.setdefault(e.key, {"n": 0, "sum": 0})
        t["n"] += 1
        t["sum"] += e.data
    return out


def final_state(broker, partitions: int = 4) -> dict:
    from edalab.state.codec import loads
    backend = MemoryState.of(broker)
    return {k: loads(v) for p in range(partitions)
            for k, v in backend.load("n.count", p).values.items() if not k.startswith("\x00")}


def outputs(broker) -> dict[str, dict]:
    """The outputs deduplicated by id (each id always with the same data)."""
    seen: dict[str, dict] = {}
    for r in broker.read("totals"):
        assert seen.setdefault(r.event.id, r.event.data) == r.event.data, r.event.id
    return seen


def test_state_is_per_key_and_checkpointed_with_the_offset():
    broker = MemoryBroker()
    app = counting_app(broker)
    app.source("n", numbers())
    app.run(batch_size=100)
    assert final_state(broker) == expected()
    assert len(outputs(broker)) == N  # one per event, ids the same on any replay
    stats = app.handlers[0].guard.stats
    assert stats.checkpoints >= N // 100 and stats.restores == 4 and stats.replays == 0


def test_a_second_run_goes_on_from_the_checkpoints():
    broker = MemoryBroker()
    first = counting_app(broker)
    first.source("n", numbers()[:700])
    first.run(batch_size=64)
    second = counting_app(broker)
    second.source("n", numbers()[700:])
    second.run(batch_size=64)
    assert final_state(broker) == expected()
    # A clean hand-over: the checkpoint is where the first run stopped, nothing is replayed.
    assert second.handlers[0].stats.events_in == N - 700


def test_a_rebalance_mid_stream_restores_state_and_replays_exactly_once():
    """A second member joins while the first runs: partitions move without a checkpoint
    of what the first did since its last one; the new owner restores and replays."""
    broker = MemoryBroker()
    first, second = counting_app(broker, every=97), counting_app(broker, every=97)
    run_while_a_member_joins(first, second, "n", numbers(), batch_size=16)
    assert final_state(broker) == expected()
    unique = outputs(broker)
    assert len(unique) == N
    ref = MemoryBroker()
    one = counting_app(ref, every=97)
    one.source("n", numbers())
    one.run()
    assert unique == outputs(ref)  # deduplicated by id: as one process emits them


def test_state_rejects_options_it_does_not_combine_with():
    app = App()
    with pytest.raises(ValueError, match="does not combine"):
        app.handler("n", state=True, batch=True)(lambda events, state: None)
    with pytest.raises(TypeError, match="state must be True"):
        app.handler("n", state="yes")(lambda event, state: None)


def test_a_function_that_takes_no_state_is_refused_at_registration():
    with pytest.raises(TypeError, match=r"must take \(event, state\)"):
        App().handler("n", state=True)(lambda event: None)
