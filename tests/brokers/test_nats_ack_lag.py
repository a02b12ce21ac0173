from edalab import Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer


def test_lag_read_right_after_ack_counts_the_acks():
    # Acks go without an answer, and the server works through them from a queue: a lag read
    # at once after acking a large batch used to count some of them as still pending.
    with NatsServer() as server:
        broker = NatsBroker(server.url)
        broker.create_topic("t", partitions=2)
        broker.publish_many("t", [Event("x", "/s", {"i": i}, key=str(i)) for i in range(20_000)])
        consumer = broker.subscribe("t", group="g")
        left, wrong = 20_000, []
        while left:
            batch = consumer.poll(max_events=5000, timeout=1.0)
            consumer.ack(batch)
            left -= len(batch)
            lag = sum(broker.lag("t", "g").values())
            if lag != left:
                wrong.append((left, lag))
        consumer.close()
        broker.close()
    assert wrong == []
