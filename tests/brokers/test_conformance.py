"""The shipped broker conformance suite (`edalab.testing.brokers`) on both backends: the
embedded `MemoryBroker` and `NatsBroker` on a real ``nats-server -js`` (a fresh one per test);
then what only one backend promises."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edalab import BrokerError
from edalab.brokers import partition_for
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer
from edalab.testing.brokers import BrokerSuite
from edalab.testing.samples import numbered_event as ev

from .conftest import memory_backend, nats_backend


def test_key_hashing_is_stable_across_processes():
    keys = ["a", "customer-42", "p007", "ü"]
    code = ("from edalab.brokers import partition_for; "
            f"print([partition_for(k, 7) for k in {keys!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"}).stdout
    assert out.strip() == str([partition_for(k, 7) for k in keys])


class TestMemoryBroker(BrokerSuite):
    redelivers_only_unacked = True

    @pytest.fixture
    def broker(self):
        broker, cleanup = memory_backend()
        yield broker
        cleanup()

    def test_seek_outside_the_log_is_an_error(self, broker):
        broker.create_topic("t")
        with pytest.raises(ValueError, match="outside"):
            broker.subscribe("t", group="g").seek(99)


class TestNatsBroker(BrokerSuite):
    @pytest.fixture
    def broker(self):
        broker, cleanup = nats_backend()
        yield broker
        cleanup()

    def test_members_must_agree_on_the_lease_ttl(self):
        with NatsServer() as server:
            first = NatsBroker(server.url, lease_ttl=3.0)
            first.create_topic("t")
            first.subscribe("t", group="g")
            other = NatsBroker(server.url, lease_ttl=5.0)
            with pytest.raises(BrokerError, match="lease_ttl=3"):
                other.subscribe("t", group="g")
            other.close()
            first.close()

    def test_member_that_stalled_past_its_lease_does_not_read_the_partition_again(self):
        # A member that cannot renew its lease in time (a stalled process: its heartbeat is
        # stopped here) loses the partition to another member, even with a pull request still
        # open at the server (one that reached it late). Neither that request nor its next
        # polls may read the partition: two readers of one partition break per-key order.
        async def stall(consumer):
            consumer._heartbeat.cancel()
            await consumer._owned[0].request(10, 10.0)

        with NatsServer() as server:
            a_broker = NatsBroker(server.url, lease_ttl=1.0)
            a_broker.create_topic("t")
            a_broker.publish_many("t", [ev(i) for i in range(1, 11)])
            a = a_broker.subscribe("t", group="g")
            first = a.poll(10, timeout=5)
            a.ack(first)
            a_broker._run(stall(a))
            time.sleep(2.0)  # its member key and lease expire
            b_broker = NatsBroker(server.url, lease_ttl=1.0)
            b = b_broker.subscribe("t", group="g")
            assert b.assignment() == [0]
            b_broker.publish_many("t", [ev(i) for i in range(11, 31)])
            rest: list[str] = []
            deadline = time.monotonic() + 10
            while len(rest) < 20 and time.monotonic() < deadline:
                batch = b.poll(100, timeout=1)
                b.ack(batch)
                rest += [r.event.id for r in batch]
            assert [r.event.id for r in first] + rest == [f"e{i}" for i in range(1, 31)]
            assert len(a.poll(10, timeout=1)) == 0 and a.assignment() == []
            a_broker.close()
            b_broker.close()
