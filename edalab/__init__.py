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
           "MemoryBroker", "NatsBroker", "NatsServer", "Record", "RunStats", "UnknownTopicError"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # NatsBroker pulls in the NATS client: import the NATS names only when asked for.
    if name in ("NatsBroker", "NatsServer"):
        import edalab.brokers.nats

        return getattr(edalab.brokers.nats, name)
    raise AttributeError(f"module 'edalab' has no attribute {name!r}")
