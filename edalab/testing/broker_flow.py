"""Conformance tests of a consumer's flow control: pausing partitions and nacking with a
delay (what a circuit breaker and a blocking retry need). Part of `BrokerSuite`."""

from __future__ import annotations

import time

import pytest

from edalab.brokers import ConsumerClosedError, partition_for
from edalab.testing.drain import drain
from edalab.testing.samples import numbered_event as ev

__all__ = ["FlowControlTests"]


class FlowControlTests:
    """Pause, resume and delayed nacks; mixed into `BrokerSuite` (needs its ``broker``)."""

    def test_nack_with_a_delay_redelivers_after_it_while_others_flow(self, broker):
        broker.create_topic("t", partitions=1)
        broker.publish_many("t", [ev(1), ev(2)])
        consumer = broker.subscribe("t", group="g")
        [first] = consumer.poll(1)
        began = time.perf_counter()
        consumer.nack(first, error="flaky", delay=0.6)
        [second] = consumer.poll(1, timeout=5)
        assert second.event.id == "e2"  # the delayed record does not hold the partition
        consumer.ack([second])
        assert not consumer.poll(timeout=0.1)  # not due yet
        [again] = consumer.poll(timeout=5)
        assert (again.event.id, again.attempt) == ("e1", 2)
        assert time.perf_counter() - began >= 0.5
        consumer.ack([again])
        assert broker.lag("t", "g") == {0: 0}

    @pytest.mark.parametrize("delay", [-1.0, float("nan")])
    def test_nack_refuses_a_negative_delay(self, broker, delay):
        broker.create_topic("t")
        broker.publish("t", ev(1))
        consumer = broker.subscribe("t", group="g")
        [record] = consumer.poll(timeout=5)
        with pytest.raises(ValueError, match="nack delay must be >= 0"):
            consumer.nack(record, delay=delay)

    def test_pause_holds_back_a_partition_until_resume(self, broker):
        broker.create_topic("t", partitions=2)
        keys = {partition_for(f"c{i}", 2): f"c{i}" for i in range(20)}
        broker.publish_many("t", [ev(i, key=keys[i % 2]) for i in range(6)])
        consumer = broker.subscribe("t", group="g")
        consumer.pause([0])
        assert consumer.paused() == [0]
        assert {r.partition for r in drain(consumer)} == {1}
        assert broker.lag("t", "g")[0] == 3  # held back, not lost
        consumer.resume([0])
        assert consumer.paused() == []
        assert [r.event.data["i"] for r in drain(consumer)] == [0, 2, 4]
        assert broker.lag("t", "g") == {0: 0, 1: 0}

    def test_pause_without_partitions_pauses_them_all(self, broker):
        broker.create_topic("t", partitions=3)
        broker.publish_many("t", [ev(i, key=f"c{i}") for i in range(9)])
        consumer = broker.subscribe("t", group="g")
        consumer.pause()
        assert not consumer.poll(timeout=0.3)
        assert consumer.paused() == consumer.assignment()
        consumer.resume()
        assert len(drain(consumer)) == 9

    def test_pause_of_a_partition_the_topic_lacks_is_a_value_error(self, broker):
        broker.create_topic("t", partitions=2)
        consumer = broker.subscribe("t", group="g")
        with pytest.raises(ValueError, match="has 2 partitions"):
            consumer.pause([2])
        consumer.close()
        with pytest.raises(ConsumerClosedError):
            consumer.pause()
