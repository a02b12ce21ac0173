"""Poison in a stateful handler's stream, on both brokers: each bad event is dead-lettered with
its error, the state of every key is as if it had never come, and the pipeline goes on."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edalab import App, Event, MemoryBroker
from edalab.brokers.base import dead_letter_topic
from edalab.state import MemoryState, State
from edalab.state.codec import loads

GOOD = [Event("n", "/tests", i % 7, key=f"k{i % 5}", id=f"g{i}") for i in range(60)]


def summing_app(broker) -> App:
    app = App(broker, partitions=2)

    @app.handler("n", state=State(every=10, default=lambda: 0), max_attempts=2)
    def add(event, state):
        value = event.data
        state.set(state.get() + 1)  # undone when the event fails
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"data of {event.id} must be an int, got {value!r}")
        state.set(state.get() - 1 + value)
    return app


def final_state(broker) -> dict[str, int]:
    backend = MemoryState.of(broker)
    return {k: loads(v) for p in range(2) for k, v in backend.load("n.add", p).values.items()
            if not k.startswith("\x00")}


def expected() -> dict[str, int]:
    out: dict[str, int] = {}
    for e in GOOD:
        out[e.key] = out.get(e.key, 0) + e.data
    return out


def test_poison_is_dead_lettered_and_the_state_is_untouched(broker):
    poison = [Event("n", "/tests", "seven", key="k1", id="p1"),
              Event("n", "/tests", None, key="k2", id="p2"),
              Event("n", "/tests", {"v": 1}, key="k3", id="p3"),
              Event("n", "/tests", 2.5, key="k4", id="p4")]
    raw = [b"{not json", b'{"specversion": "1.0"}']
    app = summing_app(broker)
    app._create_topics()
    for payload in raw:  # not events at all: dead-lettered by the broker, never handled
        broker.publish_raw("n", payload)
    app.source("n", GOOD[:30] + poison + GOOD[30:])
    stats = app.run(batch_size=16)
    assert stats.stopped_by == "drained" and stats.final_lag == 0
    dead = [r.event for r in broker.read(dead_letter_topic("n"))]
    assert {"p1", "p2", "p3", "p4"} <= {e.id for e in dead} and len(dead) == 6
    assert all("dlerror" in e.extensions for e in dead)
    assert final_state(broker) == expected()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=5), st.floats(allow_nan=False), st.none(),
                          st.booleans(), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2)),
                min_size=1, max_size=6))
def test_any_poison_leaves_the_state_as_if_it_never_came(values):
    broker = MemoryBroker()
    poison = [Event("n", "/tests", v, key=f"k{i % 5}", id=f"p{i}")
              for i, v in enumerate(values)]
    app = summing_app(broker)
    app.source("n", GOOD[:30] + poison + GOOD[30:])
    assert app.run(batch_size=8).final_lag == 0
    assert final_state(broker) == expected()
    assert len(broker.read(dead_letter_topic("n"))) == len(poison)
