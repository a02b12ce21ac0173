"""The broker conformance suite: what every edalab broker must do (Kafka's log model, see
DESIGN.md), as pytest tests a new backend runs by providing one fixture.

Subclass `BrokerSuite` in a test module (a class whose name starts with ``Test``) and give it a
``broker`` fixture that yields a fresh broker and closes it afterwards; pytest then runs every
test of the suite on that backend. A backend that restarts a taken-over partition exactly at
its un-acked records (no record acked out of order comes again) sets
``redelivers_only_unacked = True`` to have that checked too. edalab's own tests run the suite
on `MemoryBroker` and on `NatsBroker` against a real ``nats-server`` this way.

This is a testing module: it imports pytest (in edalab's ``test`` extra), no plugin.

Example: a test module for a new backend (the memory broker stands in for it here), run by
pytest in another process with no plugin loaded:

>>> module = '''
... import pytest
... from edalab import MemoryBroker
... from edalab.testing.brokers import BrokerSuite
...
... class TestMyBroker(BrokerSuite):
...     redelivers_only_unacked = True
...
...     @pytest.fixture
...     def broker(self):
...         with MemoryBroker() as broker:
...             yield broker
... '''
>>> import os, subprocess, sys, tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as folder:
...     _ = (Path(folder) / "test_my_broker.py").write_text(module)
...     run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
...                          cwd=folder, capture_output=True, text=True,
...                          env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
>>> run.returncode, run.stdout.splitlines()[-1]  # doctest: +ELLIPSIS
(0, '36 passed in ...')
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest

from edalab.brokers import (
    BrokerError,
    Consumer,
    ConsumerClosedError,
    Record,
    UnknownTopicError,
    partition_for,
)
from edalab.events import EventError
from edalab.testing.broker_flow import FlowControlTests
from edalab.testing.drain import drain
from edalab.testing.samples import T0
from edalab.testing.samples import numbered_event as ev

__all__ = ["BrokerSuite", "drain"]


class BrokerSuite(FlowControlTests):
    """The conformance tests; a subclass named ``Test…`` provides the ``broker`` fixture."""

    #: True if a partition taken over by another member resumes exactly at its un-acked
    #: records and attempt counts only grow (`MemoryBroker`). NATS, like Kafka, resumes at the
    #: first un-acked record: records acked out of order after it come again.
    redelivers_only_unacked = False

    def test_create_topic_is_idempotent_and_checks_partitions(self, broker):
        broker.create_topic("t", partitions=3)
        broker.create_topic("t", partitions=3)
        assert broker.partitions("t") == 3 and "t.dlq" in broker.topics()
        with pytest.raises(BrokerError, match="3 partitions"):
            broker.create_topic("t", partitions=4)
        with pytest.raises(ValueError, match="partitions"):
            broker.create_topic("u", partitions=0)

    def test_unknown_topic_is_a_clear_error(self, broker):
        broker.create_topic("orders")
        with pytest.raises(UnknownTopicError, match="'ordres'.*create_topic"):
            broker.publish("ordres", ev(1))
        with pytest.raises(UnknownTopicError):
            broker.subscribe("ordres", group="g")

    @pytest.mark.parametrize("partitions", [1, 2])
    def test_publish_rejects_non_events_and_keeps_the_batch_atomic(self, broker, partitions):
        broker.create_topic("t", partitions=partitions)
        with pytest.raises(TypeError, match="edalab.Event.*dict"):
            broker.publish("t", {"i": 1})
        with pytest.raises(TypeError, match="edalab.Event.*str"):
            broker.publish_many("t", [ev(1), ev(2), "oops", ev(3)])

        def source_that_breaks():
            yield ev(1)
            raise RuntimeError("the source broke")
        with pytest.raises(RuntimeError, match="source broke"):
            broker.publish_many("t", source_that_breaks())
        assert broker.end_offsets("t") == [0] * partitions

    def test_same_key_same_partition_in_order(self, broker):
        broker.create_topic("t", partitions=4)
        broker.publish_many("t", [ev(i, key=f"c{i % 5}") for i in range(100)])
        for record in broker.read("t"):
            assert record.partition == partition_for(record.event.key, 4)
        for p in range(4):
            per_key: dict[str, list[int]] = {}
            for record in broker.read("t", p):
                per_key.setdefault(record.event.key, []).append(record.event.data["i"])
            assert all(v == sorted(v) for v in per_key.values())

    def test_unkeyed_events_spread_round_robin(self, broker):
        broker.create_topic("t", partitions=3)
        broker.publish_many("t", [ev(i, key=None) for i in range(9)])
        assert [len(broker.read("t", p)) for p in range(3)] == [3, 3, 3]

    def test_publish_returns_the_record_position(self, broker):
        broker.create_topic("t", partitions=2)
        first = broker.publish("t", ev(1, key="x"))
        second = broker.publish("t", ev(2, key="x"))
        assert (first.partition, first.offset + 1) == (second.partition, second.offset)
        assert first.attempt == 1

    def test_poll_respects_max_events_and_ack_commits(self, broker):
        broker.create_topic("t", partitions=2)
        broker.publish_many("t", [ev(i, key=str(i)) for i in range(10)])
        consumer = broker.subscribe("t", group="g")
        batch = consumer.poll(max_events=4)
        assert 1 <= len(batch) <= 4 and len(batch.events) == len(batch)
        assert all(r.attempt == 1 and r.topic == "t" for r in batch)
        consumer.ack(batch)
        assert sum(broker.lag("t", "g").values()) == 10 - len(batch)
        assert len(drain(consumer)) == 10 - len(batch)
        assert broker.lag("t", "g") == {0: 0, 1: 0}

    def test_poll_waits_up_to_timeout_and_wakes_on_publish(self, broker):
        broker.create_topic("t")
        consumer = broker.subscribe("t", group="g")
        start = time.perf_counter()
        assert len(consumer.poll(timeout=0.05)) == 0
        assert time.perf_counter() - start >= 0.04
        timer = threading.Timer(0.05, lambda: broker.publish("t", ev(1)))
        timer.start()
        batch = consumer.poll(timeout=5)
        timer.join()
        assert [r.event.id for r in batch] == ["e1"]

    def test_group_members_split_partitions_and_rebalance(self, broker):
        broker.create_topic("t", partitions=4)
        a = broker.subscribe("t", group="g")
        assert a.assignment() == [0, 1, 2, 3]
        b = broker.subscribe("t", group="g")
        assert sorted(a.assignment() + b.assignment()) == [0, 1, 2, 3]
        assert a.assignment() and b.assignment()
        b.close()
        assert a.assignment() == [0, 1, 2, 3]

    def test_groups_are_independent(self, broker):
        broker.create_topic("t", partitions=2)
        broker.publish_many("t", [ev(i, key=str(i)) for i in range(6)])
        assert len(drain(broker.subscribe("t", group="billing"))) == 6
        assert len(drain(broker.subscribe("t", group="audit"))) == 6
        assert len(drain(broker.subscribe("t"))) == 6  # a private group

    def test_unacked_records_go_to_the_next_owner_with_attempt_two(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish_many("t", [ev(i) for i in range(5)])
        crashed = broker.subscribe("t", group="g")
        got = crashed.poll(max_events=3)
        crashed.ack(got[:1])
        crashed.close()  # a crash: records 1 and 2 were polled but never acked
        survivor = broker.subscribe("t", group="g")
        again = drain(survivor)
        assert [(r.event.id, r.attempt) for r in again] == [
            ("e1", 2), ("e2", 2), ("e3", 1), ("e4", 1)]

    def test_acked_records_are_not_delivered_again_after_rebalance(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish_many("t", [ev(i) for i in range(4)])
        first = broker.subscribe("t", group="g")
        batch = first.poll(max_events=4)
        first.ack([batch[0], batch[2]])  # out of order: 0 and 2 done, 1 and 3 not
        first.close()
        second = broker.subscribe("t", group="g")
        assert [r.event.id for r in drain(second)] == ["e1", "e3"]

    def test_nack_redelivers_then_dead_letters(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish("t", ev(1))
        consumer = broker.subscribe("t", group="g", max_attempts=3)
        attempts = []
        while batch := consumer.poll():
            for record in batch:
                attempts.append(record.attempt)
                consumer.nack(record, error=ValueError("amount is NaN"))
        assert attempts == [1, 2, 3]
        assert broker.lag("t", "g") == {0: 0}
        [original] = broker.read("t")
        [dead] = broker.read("t.dlq")
        assert dead.event.id == "e1" and dead.event.data == {"i": 1}
        ext = dead.event.extensions
        assert ext["dlerror"] == "ValueError: amount is NaN"
        assert (ext["dltopic"], ext["dlpartition"], ext["dloffset"], ext["dlattempts"],
                ext["dlgroup"]) == ("t", 0, original.offset, 3, "g")

    def test_nack_keeps_other_records_flowing(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish_many("t", [ev(i) for i in range(3)])
        consumer = broker.subscribe("t", group="g")
        batch = consumer.poll()
        consumer.nack(batch[1], error="boom")
        consumer.ack([batch[0], batch[2]])
        assert broker.lag("t", "g")[0] >= 1  # e1 is not done
        [retry] = consumer.poll(timeout=5)
        assert (retry.event.id, retry.attempt) == ("e1", 2)
        consumer.ack([retry])
        assert broker.lag("t", "g") == {0: 0}

    def test_stale_nack_is_ignored(self, broker):
        broker.create_topic("t")
        broker.publish("t", ev(1))
        consumer = broker.subscribe("t", group="g")
        [record] = consumer.poll()
        consumer.nack(record, error="x")
        consumer.nack(record, error="x")  # twice: only one redelivery
        assert [r.attempt for r in drain(consumer)] == [2]

    def test_seek_replays_from_beginning_offset_or_time(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish_many("t", [ev(i) for i in range(5)])
        consumer = broker.subscribe("t", group="g")
        offsets = [r.offset for r in drain(consumer)]
        consumer.seek("beginning")
        assert [r.event.id for r in drain(consumer)] == ["e0", "e1", "e2", "e3", "e4"]
        consumer.seek(offsets[3])
        assert [r.event.id for r in drain(consumer)] == ["e3", "e4"]
        consumer.seek(T0 + timedelta(seconds=1.5))  # event time, not append time
        assert [r.event.id for r in drain(consumer)] == ["e2", "e3", "e4"]
        consumer.seek("end")
        assert drain(consumer) == []
        with pytest.raises(TypeError):
            consumer.seek("yesterday")

    def test_lag_counts_uncommitted_per_partition(self, broker):
        broker.create_topic("t", partitions=2)
        consumer = broker.subscribe("t", group="g")
        broker.publish_many("t", [ev(i, key=str(i)) for i in range(8)])
        assert sum(consumer.lag().values()) == 8
        consumer.poll(max_events=3)  # polled, not acked: still lag
        assert sum(consumer.lag().values()) == 8

    def test_start_latest_skips_history(self, broker):
        broker.create_topic("t")
        broker.publish_many("t", [ev(i) for i in range(3)])
        consumer = broker.subscribe("t", group="new", start="latest")
        broker.publish("t", ev(9))
        assert [r.event.id for r in drain(consumer)] == ["e9"]

    def test_closed_consumer_cannot_poll(self, broker):
        broker.create_topic("t")
        consumer = broker.subscribe("t", group="g")
        consumer.close()
        with pytest.raises(ConsumerClosedError):
            consumer.poll()

    def test_concurrent_producers_and_consumers_lose_nothing(self, broker):
        broker.create_topic("t", partitions=4)
        n_threads, per_thread = 4, 2000
        seen: list[str] = []
        lock = threading.Lock()
        done = threading.Event()

        def produce(t: int) -> None:
            for i in range(0, per_thread, 100):
                broker.publish_many("t", [ev(t * per_thread + j, key=str(j % 13))
                                          for j in range(i, i + 100)])

        def consume() -> None:
            consumer = broker.subscribe("t", group="g")
            while not done.is_set() or sum(consumer.lag().values()):
                batch = consumer.poll(200, timeout=0.01)
                with lock:
                    seen.extend(e.id for e in batch.events)
                consumer.ack(batch)
            consumer.close()

        consumers = [threading.Thread(target=consume) for _ in range(2)]
        producers = [threading.Thread(target=produce, args=(t,)) for t in range(n_threads)]
        for th in consumers + producers:
            th.start()
        for th in producers:
            th.join()
        done.set()
        for th in consumers:
            th.join(timeout=30)
        assert sorted(seen) == sorted(f"e{i}" for i in range(n_threads * per_thread))

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_random_workload_loses_nothing(self, broker, seed):
        """Seeded random publishes, joins, crashes, polls, acks and nacks, then a final drain:
        every event ends acked or dead-lettered. With `redelivers_only_unacked` also: nothing
        is delivered after its ack and attempt counts only grow."""
        strict = self.redelivers_only_unacked
        rng = random.Random(seed)
        broker.create_topic("t", partitions=3)
        members: list[Consumer] = []
        held: dict[int, list[Record]] = {}
        published: list[str] = []
        acked: set[str] = set()
        seen: dict[str, int] = {}
        for _ in range(60):
            op = rng.choice(["publish", "publish", "join", "crash", "poll", "poll", "settle"])
            live = [i for i, m in enumerate(members) if not m.closed]
            if op == "publish":
                events = [ev(len(published) + j, key=f"k{rng.randrange(4)}") for j in range(4)]
                broker.publish_many("t", events)
                published += [e.id for e in events]
            elif op == "join" and len(live) < 3:
                members.append(broker.subscribe("t", group="g", max_attempts=3))
                held[len(members) - 1] = []
            elif op == "crash" and live:
                i = rng.choice(live)
                members[i].close()
                held[i] = []
            elif op == "poll" and live:
                i = rng.choice(live)
                for r in members[i].poll(rng.randint(1, 6), timeout=0.05):
                    if strict:
                        assert r.event.id not in acked, f"{r.event.id} delivered after its ack"
                        assert r.attempt > seen.get(r.event.id, 0)
                    seen[r.event.id] = r.attempt
                    held[i].append(r)
            elif op == "settle" and any(held[i] for i in live):
                i = rng.choice([i for i in live if held[i]])
                r = held[i].pop(rng.randrange(len(held[i])))
                if rng.random() < 0.7:
                    members[i].ack([r])
                    acked.add(r.event.id)
                else:
                    members[i].nack(r, error="failed")
        for m in members:
            m.close()
        final = broker.subscribe("t", group="g", max_attempts=3)
        deadline = time.monotonic() + 30
        while sum(final.lag().values()) and time.monotonic() < deadline:
            batch = final.poll(100, timeout=0.5)
            for r in batch:
                assert not strict or r.event.id not in acked, f"{r.event.id} after its ack"
            final.ack(batch)
            acked.update(batch[i].event.id for i in range(len(batch)))
        dead = {r.event.id for r in broker.read("t.dlq")}
        assert acked | dead == set(published)
        assert not strict or not acked & dead

    def test_a_partition_the_topic_lacks_is_a_value_error(self, broker):
        broker.create_topic("t", partitions=2)
        broker.publish("t", ev(1))
        consumer = broker.subscribe("t", group="g")
        [record] = consumer.poll(timeout=5)
        for bad in (-1, 2):
            stray = record._replace(partition=bad)
            with pytest.raises(ValueError, match=f"'t' has 2 partitions.*not {bad}"):
                broker.read("t", bad)
            with pytest.raises(ValueError, match=f"'t' has 2 partitions.*not {bad}"):
                consumer.ack([stray])
            with pytest.raises(ValueError, match=f"'t' has 2 partitions.*not {bad}"):
                consumer.nack(stray, error="x")
        assert sum(broker.lag("t", "g").values()) == 1  # nothing was committed on the way

    def test_ack_of_a_record_not_yet_delivered_has_no_effect(self, broker):
        broker.create_topic("t")
        broker.publish_many("t", [ev(i) for i in range(3)])
        first, _, last = broker.read("t")
        consumer = broker.subscribe("t", group="g")
        consumer.ack([first, last])  # the group has not been delivered them: nothing to commit
        assert broker.lag("t", "g") == {0: 3}
        assert [r.event.id for r in drain(consumer)] == ["e0", "e1", "e2"]
        assert broker.lag("t", "g") == {0: 0}

    def test_publish_after_close_raises(self, broker):
        broker.create_topic("t")
        broker.close()
        for call in (lambda: broker.publish("t", ev(1)),
                     lambda: broker.publish_many("t", [ev(1)]),
                     lambda: broker.publish_raw("t", ev(1).to_json()),
                     lambda: broker.subscribe("t", group="g")):
            with pytest.raises(BrokerError, match="broker is closed"):
                call()

    @pytest.mark.parametrize("partitions", [1, 2])
    def test_publish_refuses_data_json_cannot_hold_and_appends_nothing_of_the_batch(
            self, broker, partitions):
        broker.create_topic("t", partitions=partitions)
        nan = ev(2).replace(data={"i": float("nan")})
        with pytest.raises(EventError, match="data") as caught:
            broker.publish_many("t", [ev(0, key=None), ev(1, key=None), nan, ev(3)])
        assert caught.value.index == 2
        with pytest.raises(EventError, match="data"):
            broker.publish("t", nan)
        assert broker.read("t") == []

    def test_no_reader_changes_the_data_another_sees(self, broker):
        broker.create_topic("t")
        data = {"i": 1, "tags": ["new"]}
        broker.publish("t", ev(1).replace(data=data))
        data["i"] = 2  # the producer's own dict is not the event in the log
        a = broker.subscribe("t", group="a")
        [record] = a.poll(timeout=5)
        for change in (lambda d: d.__setitem__("i", 99), lambda d: d["tags"].append("seen"),
                       lambda d: d.update(i=99), lambda d: d.pop("tags")):
            try:  # the memory broker refuses loudly; NATS gives each delivery its own copy
                change(record.event.data)
            except TypeError as error:
                assert "read-only; copy it first" in str(error)
        a.nack(record, error="retry")
        [again] = a.poll(timeout=5)
        assert again.attempt == 2 and again.event.data == {"i": 1, "tags": ["new"]}
        [other] = broker.subscribe("t", group="b").poll(timeout=5)
        assert other.event.data == {"i": 1, "tags": ["new"]}
        assert dict(other.event.data) | {"i": 3} == {"i": 3, "tags": ["new"]}  # copies change
