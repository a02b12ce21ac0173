"""Brokers: the `Broker` protocol and its backends (`MemoryBroker` is the embedded default)."""

from edalab.brokers.base import (
    Batch,
    Broker,
    BrokerError,
    Consumer,
    ConsumerClosedError,
    Record,
    UnknownTopicError,
    dead_letter_topic,
)
from edalab.brokers.memory import MemoryBroker, MemoryConsumer
from edalab.brokers.partitioning import partition_for

__all__ = ["Batch", "Broker", "BrokerError", "Consumer", "ConsumerClosedError", "MemoryBroker",
           "MemoryConsumer", "Record", "UnknownTopicError", "dead_letter_topic", "partition_for"]
