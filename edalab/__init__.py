"""edalab: a lab for event-driven architectures for AI and data workflows."""

from edalab.brokers import (
    Batch,
    Broker,
    BrokerError,
    Consumer,
    ConsumerClosedError,
    MemoryBroker,
    Record,
    UnknownTopicError,
)
from edalab.errors import BatchFailure, EdalabError, StoreClosedError
from edalab.events import Event, EventError
from edalab.runtime import App, HandlerError, NothingToRunError, RunStats

__all__ = ["App", "Batch", "BatchFailure", "Broker", "BrokerError", "CommandError",
           "ConcurrencyError", "Consumer", "ConsumerClosedError", "CoordinatorCrashed",
           "EdalabError", "Event", "EventError", "EventStoreFileError", "HandlerError",
           "MemoryBroker", "NatsBroker", "NatsServer", "NothingToRunError", "Record", "RunStats",
           "StepFailed", "StoreClosedError", "UnknownTopicError"]
__version__ = "0.1.0"

# The patterns' errors load on first use, as the patterns do (the retraining workflow
# imports river).
_PATTERN_ERRORS = {
    "CommandError": "edalab.patterns.aggregate",
    "ConcurrencyError": "edalab.patterns.eventstore.base",
    "EventStoreFileError": "edalab.patterns.eventstore.base",
    "CoordinatorCrashed": "edalab.patterns.saga",
    "StepFailed": "edalab.retraining.services",
}


def __getattr__(name: str):
    # NatsBroker pulls in the NATS client: import the NATS names only when asked for.
    if name in ("NatsBroker", "NatsServer"):
        import edalab.brokers.nats

        return getattr(edalab.brokers.nats, name)
    if name in _PATTERN_ERRORS:
        import importlib

        return getattr(importlib.import_module(_PATTERN_ERRORS[name]), name)
    raise AttributeError(f"module 'edalab' has no attribute {name!r}")
