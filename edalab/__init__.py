"""edalab: a lab for event-driven architectures for AI and data workflows."""

from edalab.brokers import (
    Batch,
    Broker,
    BrokerError,
    Consumer,
    MemoryBroker,
    Record,
    UnknownTopicError,
)
from edalab.events import Event, EventError
from edalab.runtime import App, RunStats

__all__ = ["App", "Batch", "Broker", "BrokerError", "Consumer", "Event", "EventError",
           "MemoryBroker", "Record", "RunStats", "UnknownTopicError"]
__version__ = "0.1.0"
