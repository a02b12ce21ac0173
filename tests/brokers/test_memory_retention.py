"""MemoryBroker retention: records every group has committed are deleted (but a tail), so long
runs hold only what is in flight; offsets are not reused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import App, Event, MemoryBroker

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def batch(start: int, n: int) -> list[Event]:
    return [Event("n", "/t", i, key="k", id=f"e{i}") for i in range(start, start + n)]


def consume_all(consumer) -> list[int]:
    got = []
    while records := consumer.poll(1000):
        got += [r.offset for r in records]
        consumer.ack(records)
    return got


def test_committed_records_are_deleted_but_the_last_retain():
    broker = MemoryBroker(retain=100)
    broker.create_topic("t")
    worker = broker.subscribe("t", group="g")
    seen: list[int] = []
    for start in range(0, 10_000, 500):
        broker.publish_many("t", batch(start, 500))
        seen += consume_all(worker)
    assert seen == list(range(10_000))  # nothing lost, offsets continue
    broker.publish_many("t", batch(10_000, 500))  # trims what the group committed
    kept = broker.read("t")
    assert len(kept) <= 100 + 1024 + 500
    assert [r.offset for r in kept] == list(range(kept[0].offset, 10_500))
    assert [r.event.data for r in kept] == list(range(kept[0].offset, 10_500))
    late = broker.subscribe("t", group="late")  # a new group starts at the first kept record
    assert consume_all(late)[0] == kept[0].offset
    worker.seek("beginning")
    assert consume_all(worker)[0] == kept[0].offset
    assert broker.lag("t", "g") == {0: 0}


def test_a_group_that_lags_holds_its_records_and_unread_topics_keep_everything():
    broker = MemoryBroker(retain=0)
    broker.create_topic("t")
    broker.create_topic("sink")
    fast = broker.subscribe("t", group="fast")
    broker.subscribe("t", group="slow")  # joined, never polls
    for start in range(0, 5_000, 1000):
        broker.publish_many("t", batch(start, 1000))
        broker.publish_many("sink", batch(start, 1000))
        consume_all(fast)
    assert len(broker.read("t")) == 5_000 and len(broker.read("sink")) == 5_000


def test_an_app_on_a_retaining_broker_gives_the_same_results():
    def run(broker: MemoryBroker) -> list[int]:
        app = App(broker, partitions=3)
        out: list[int] = []

        @app.handler("numbers", output="doubled")
        def double(event):
            return event.replace(data=2 * event.data)

        @app.handler("doubled")
        def sink(event):
            out.append(event.data)

        app.source("numbers", [Event("n", "/t", i, key=str(i % 7)) for i in range(20_000)])
        app.run(batch_size=500)
        return sorted(out)

    assert run(MemoryBroker(retain=50)) == run(MemoryBroker())


def test_retain_must_be_a_count():
    with pytest.raises(ValueError, match="retain"):
        MemoryBroker(retain=-1)


def held(broker: MemoryBroker, topic: str) -> int:
    """Slots the broker's lists of `topic` hold: what retention must keep bounded."""
    t = broker._topics[topic]
    return sum(map(len, t.logs)) + sum(map(len, t.stamps))


def test_publish_one_at_a_time_is_trimmed_too():
    broker = MemoryBroker(retain=100)
    broker.create_topic("t")
    worker = broker.subscribe("t", group="g")
    for i in range(20_000):
        broker.publish("t", Event("n", "/t", i))
        worker.ack(worker.poll())
    assert held(broker, "t") <= 2 * (100 + 2 * 1024)
    assert broker.end_offsets("t") == [20_000] and broker.lag("t", "g") == {0: 0}


def test_a_closed_private_group_is_gone_and_holds_nothing():
    broker = MemoryBroker(retain=0)
    broker.create_topic("t")
    broker.subscribe("t").close()
    worker = broker.subscribe("t", group="g")
    for start in range(0, 20_000, 500):
        broker.publish_many("t", batch(start, 500))
        consume_all(worker)
    assert broker.groups("t") == ["g"]
    assert held(broker, "t") <= 2 * 3 * 1024


def test_a_group_without_members_holds_nothing_and_rejoins_at_the_first_kept_record():
    broker = MemoryBroker(retain=10)
    broker.create_topic("t")
    slow = broker.subscribe("t", group="slow")
    broker.publish_many("t", batch(0, 10))
    slow.ack(slow.poll(3))
    slow.close()
    worker = broker.subscribe("t", group="g")
    for start in range(10, 20_000, 500):
        broker.publish_many("t", batch(start, 500))
        consume_all(worker)
    assert held(broker, "t") <= 2 * 3 * 1024
    assert broker.committed("t", "slow") == [3]  # kept while it has no member
    first = broker.read("t")[0].offset
    back = broker.subscribe("t", group="slow")
    assert consume_all(back) == list(range(first, broker.end_offsets("t")[0]))
    assert broker.lag("t", "slow") == {0: 0}


def test_redelivery_dead_letters_seek_and_read_after_records_were_deleted():
    broker = MemoryBroker(retain=10)
    broker.create_topic("t", partitions=2)
    worker = broker.subscribe("t", group="g", max_attempts=2)
    for start in range(0, 10_000, 1000):
        broker.publish_many("t", [Event("n", "/t", i, key=("k4", "k0")[i % 2], time=T0 + i * SECOND)
                                  for i in range(start, start + 1000)])
        consume_all(worker)
    first = [broker.read("t", p)[0].offset for p in range(2)]  # keys k4, k0: partitions 0, 1
    assert min(first) > 1000 and held(broker, "t") < 10_000
    broker.publish_many("t", [Event("n", "/t", i, key="k4", time=T0 + i * SECOND)
                              for i in range(10_000, 10_003)])
    got = worker.poll(3)
    worker.close()  # a crash: all three come again, from the kept log
    survivor = broker.subscribe("t", group="g", max_attempts=2)
    again = survivor.poll(3)
    assert [(r.offset, r.attempt, r.event.data) for r in again] == [
        (r.offset, 2, r.event.data) for r in got]
    survivor.nack(again[0], error="boom")  # the last attempt: dead-lettered
    [dead] = broker.read("t.dlq")
    assert dead.event.extensions["dloffset"] == got[0].offset and dead.event.data == 10_000
    survivor.ack(again[1:])
    survivor.seek(got[1].offset, partition=0)
    assert [r.event.data for r in survivor.poll(10)] == [10_001, 10_002]
    survivor.seek(T0 + 10_002 * SECOND, partition=0)
    assert [r.event.data for r in survivor.poll(10)] == [10_002]
    survivor.seek(0, partition=0)  # deleted: from the first kept record
    assert survivor.poll(1)[0].offset == broker.read("t", 0)[0].offset
    assert broker.lag("t", "g")[1] == 0


def test_a_two_handler_app_holds_a_bounded_log():
    n, batch_size = 200_000, 1000
    broker = MemoryBroker(retain=1000)
    app = App(broker, partitions=4)
    peak = {"numbers": 0, "doubled": 0}
    seen = []

    @app.handler("numbers", output="doubled")
    def double(event):
        return event.replace(data=2 * event.data)

    @app.handler("doubled")
    def sink(event):
        seen.append(1)
        if len(seen) % 5000 == 0:
            for topic in peak:
                peak[topic] = max(peak[topic], held(broker, topic))

    app.source("numbers", (Event("n", "/t", i, key=str(i % 97)) for i in range(n)))
    app.run(batch_size=batch_size)
    assert len(seen) == n
    # Per partition at most: `retain`, what is in flight, and one trim step before a trim.
    bound = 2 * 4 * (1000 + batch_size + 2 * 1024)
    assert 0 < peak["numbers"] <= bound and 0 < peak["doubled"] <= bound
