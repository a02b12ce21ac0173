"""The `Broker` protocol on NATS JetStream, one concept per module.

- `broker`: `NatsBroker` (connection, topics, publishing, inspection)
- `consumer`: `NatsConsumer` (poll, ack, nack, seek) and `puller`, its pull requests
- `membership`: the lease protocol that shares a topic's partitions within a group
- `codec`: stream, subject and durable names, ack-subject tokens
- `connection`, `inspection`: connecting to a server; reading a topic without consuming
- `server`: `NatsServer`, a local ``nats-server -js`` for tests, notebooks and the CLI
- `cluster`: `NatsCluster`, N servers joined by routes (replicated topics, failover)

The names load on first use: a `NatsServer` alone (``edalab broker start``) does not import
the NATS client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edalab.brokers.nats.broker import NatsBroker
    from edalab.brokers.nats.cluster import NatsCluster
    from edalab.brokers.nats.consumer import NatsConsumer
    from edalab.brokers.nats.server import NatsServer

__all__ = ["NatsBroker", "NatsCluster", "NatsConsumer", "NatsServer"]

_MODULES = {"NatsBroker": "broker", "NatsCluster": "cluster", "NatsConsumer": "consumer",
            "NatsServer": "server"}


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
