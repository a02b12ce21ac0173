"""Property-based: through random publishes, joins, crashes, polls, acks and nacks, no event
is lost, none is duplicated except by redelivery, per-key order holds for first deliveries,
attempt counts are exact, and every event ends acked or dead-lettered."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edalab.testing.brokers import drain
from edalab.testing.samples import numbered_event as ev

from .conftest import BACKENDS

MAX_ATTEMPTS = 3


class GroupMachine(RuleBasedStateMachine):
    backend = "memory"

    def __init__(self):
        super().__init__()
        self.broker, self.cleanup = BACKENDS[self.backend]()
        self.broker.create_topic("t", partitions=3)
        self.members: list = []
        self.held: dict[int, list] = {}  # member index -> records polled, not settled
        self.published: list[str] = []
        self.deliveries: dict[str, list[int]] = {}  # event id -> attempts in order
        self.first_order: dict[str, list[int]] = {}  # key -> event numbers, first deliveries
        self.acked: set[str] = set()
        self.n = 0

    def _record(self, records):
        for r in records:
            past = self.deliveries.setdefault(r.event.id, [])
            assert r.event.id not in self.acked, f"{r.event.id} delivered after its ack"
            assert r.attempt == len(past) + 1, (r.event.id, r.attempt, past)
            past.append(r.attempt)
            if r.attempt == 1:
                self.first_order.setdefault(r.event.key, []).append(r.event.data["i"])

    @rule(count=st.integers(1, 8), keys=st.integers(1, 4))
    def publish(self, count, keys):
        events = [ev(self.n + i, key=f"k{(self.n + i) % keys}") for i in range(count)]
        self.broker.publish_many("t", events)
        self.published += [e.id for e in events]
        self.n += count

    @precondition(lambda self: len(self.members) < 4)
    @rule()
    def join(self):
        self.members.append(self.broker.subscribe("t", group="g", max_attempts=MAX_ATTEMPTS))
        self.held[len(self.members) - 1] = []

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def crash(self, data):
        i = data.draw(st.sampled_from(self.live()))
        self.members[i].close()
        self.held[i] = []  # whatever it held is lost with it

    @precondition(lambda self: self.live())
    @rule(data=st.data(), max_events=st.integers(1, 6))
    def poll(self, data, max_events):
        i = data.draw(st.sampled_from(self.live()))
        batch = self.members[i].poll(max_events)
        self._record(batch)
        self.held[i] += list(batch)

    @precondition(lambda self: any(self.held[i] for i in self.live()))
    @rule(data=st.data())
    def settle(self, data):
        i = data.draw(st.sampled_from([i for i in self.live() if self.held[i]]))
        record = data.draw(st.sampled_from(self.held[i]))
        self.held[i].remove(record)
        owned = record.partition in self.members[i].assignment()
        if data.draw(st.booleans()):
            self.members[i].ack([record])
            self.acked.add(record.event.id)
        elif owned:
            self.members[i].nack(record, error="failed")

    def live(self):
        return [i for i, m in enumerate(self.members) if not m.closed]

    @invariant()
    def first_deliveries_keep_key_order(self):
        for numbers in self.first_order.values():
            assert numbers == sorted(numbers)

    def teardown(self):
        for i in self.live():
            self.members[i].close()
        final = self.broker.subscribe("t", group="g", max_attempts=MAX_ATTEMPTS)
        records = drain(final, ack=False, max_events=1000, wait=0)
        self._record(records)
        final.ack(records)
        self.acked.update(r.event.id for r in records)
        dead = {r.event.id for r in self.broker.read("t.dlq")}
        assert self.acked | dead == set(self.published), "an event was lost"
        assert not self.acked & dead, "an event was both acked and dead-lettered"
        assert sum(self.broker.lag("t", "g").values()) == 0
        for event_id in dead:
            assert len(self.deliveries[event_id]) >= MAX_ATTEMPTS
        self.cleanup()


GroupMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                          deadline=None)
TestMemoryBrokerGroups = GroupMachine.TestCase

