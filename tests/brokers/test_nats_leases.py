"""The lease bucket that shares a group's partitions (`membership`): its rounds leave no
consumer behind on the bucket, so crashed and restarted workers never reach the server's
consumer limit."""

from __future__ import annotations

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
