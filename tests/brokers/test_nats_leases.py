"""The lease bucket that shares a group's partitions (`membership`): its rounds leave no
consumer behind on the bucket, so crashed and restarted workers never reach the server's
consumer limit; a partition handed back to the group keeps its key order."""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client

from edalab import Event
from edalab.brokers.nats.membership import LEASES


def test_membership_rounds_leave_no_consumer_on_the_lease_bucket(nats_broker):
    nats_broker.create_topic("leased", 2)
    consumers = [nats_broker.subscribe("leased", group="g") for _ in range(2)]
    for _ in range(5):
        for consumer in consumers:
            consumer.assignment()  # a membership round
    info = nats_broker._run(nats_broker._js.stream_info(f"KV_{LEASES}"))
    assert info.state.consumer_count == 0
    assert sorted(p for c in consumers for p in c.assignment(refresh=False)) == [0, 1]


def test_a_handed_back_partition_keeps_key_order_when_its_naks_land_late(nats_broker,
                                                                         monkeypatch):
    # A member that lets a partition go NAKs what it holds. The server queues acks apart
    # from pull requests, so a NAK can land after the next owner's first pull, which would
    # then take newer records first. Made certain here: every NAK reaches the server a
    # second late (in order), so only a member that waits for its NAKs keeps the order.
    publish = Client.publish

    async def late_naks(self, subject, payload=b"", reply="", headers=None):
        if not payload.startswith(b"-NAK"):
            return await publish(self, subject, payload, reply, headers)
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, lambda: loop.create_task(
            publish(self, subject, payload, reply, headers)))

    nats_broker.create_topic("ordered", 1)
    events = [Event("tick", "/t", {"n": i}, key="k", id=f"e{i}") for i in range(40)]
    nats_broker.publish_many("ordered", events)
    first = nats_broker.subscribe("ordered", group="g")
    held = first.poll(10, timeout=5)  # delivered, not acked
    first.ack(held[:2])
    assert [r.event.id for r in held] == [f"e{i}" for i in range(10)]
    monkeypatch.setattr(Client, "publish", late_naks)
    first.close()  # hands p0 back with e2..e9
    second = nats_broker.subscribe("ordered", group="g")
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while len(seen) < 38 and time.monotonic() < deadline:
        batch = second.poll(100, timeout=1)
        seen += [r.event.id for r in batch]
        second.ack(batch)
    assert seen == [e.id for e in events[2:]]  # in log order, each once, the acked ones not
