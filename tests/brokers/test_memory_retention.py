"""MemoryBroker retention: records every group has committed are deleted (but a tail), so long
runs hold only what is in flight; offsets are not reused."""

from __future__ import annotations

import pytest

from edalab import App, Event, MemoryBroker


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
