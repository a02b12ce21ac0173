"""`MemoryBroker`: the embedded, in-process broker with Kafka's log semantics.

Topics have partitions; each partition is an append-only log of `Record`s: a list of the kept
events, whose first one has offset ``base`` (retention deletes from the front, so an offset is
``base + index``). A consumer group keeps one cursor per partition: the committed offset (what
survives a crash), the fetch position, acks that arrived out of order, and nacked records
waiting to be redelivered. Members of a group split the partitions (sticky and balanced, see
`edalab.brokers.assignment`); a member joining or closing moves partitions, and the new owner
starts again from the committed offset, so whatever was polled but not acked is delivered again.

Publishing to a topic that was never created raises `UnknownTopicError`, unless the broker was
made with ``auto_create=True`` (then the topic is created with ``default_partitions``). Every
consumer group gets the same event objects, so the broker makes their data read-only at
publish (see `edalab.readonly`): no reader can change what another sees.

All methods are safe to call from several threads (one lock per broker).

>>> from edalab import Event, MemoryBroker
>>> broker = MemoryBroker()
>>> broker.create_topic("orders", partitions=2)
>>> broker.publish_many("orders", [Event("order", "/shop", {"n": i}, key=f"c{i % 3}")
...                                for i in range(6)])
6
>>> worker = broker.subscribe("orders", group="billing")
>>> records = worker.poll(max_events=10)
>>> len(records), sorted(worker.assignment())
(6, [0, 1])
>>> worker.ack(records)
>>> broker.lag("orders", "billing")
{0: 0, 1: 0}
"""

from edalab.brokers.memory.broker import MemoryBroker
from edalab.brokers.memory.consumer import MemoryConsumer

__all__ = ["MemoryBroker", "MemoryConsumer"]
