"""edalab: a lab for event-driven architectures for AI and data workflows."""

from edalab.brokers import (
    Broker,
    BrokerError,
    Consumer,
    MemoryBroker,
    Record,
    UnknownTopicError,
)
from edalab.events import Event, EventError

__all__ = ["Broker", "BrokerError", "Consumer", "Event", "EventError", "MemoryBroker", "Record",
           "UnknownTopicError"]
__version__ = "0.1.0"
