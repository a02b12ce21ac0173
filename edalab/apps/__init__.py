"""Ready-made Apps: pipelines that notebooks run in-process and `edalab worker` serves.

Each app is a function of a broker returning an `App`, so the same pipeline runs on the
embedded `MemoryBroker` or, in worker processes, on NATS JetStream::

    edalab worker edalab.apps.card_scoring:card_scoring --broker nats://127.0.0.1:4222
"""

from __future__ import annotations

from edalab.apps.card_scoring import card_scoring

__all__ = ["card_scoring"]
