"""Resilience building blocks for handlers: retry policies and backoff, the error classes that
steer them, a circuit breaker, idempotency stores, dead-letter operations and fault
injection. Each is usable alone; `App` builds its handler options on them.

>>> from edalab.resilience import Backoff, Retry
>>> Retry(max_attempts=3, backoff=Backoff.fixed(1.0)).decide(TimeoutError(), attempt=1)
1.0
"""

from __future__ import annotations

from edalab.resilience.backoff import Backoff
from edalab.resilience.breaker import CircuitBreaker
from edalab.resilience.dlq import dead_letters, redrive
from edalab.resilience.errors import BreakerOpen, PermanentError, TransientError
from edalab.resilience.faults import Faults
from edalab.resilience.idempotency import MemoryIdempotencyStore, SqliteIdempotencyStore
from edalab.resilience.link import Link
from edalab.resilience.retry import Retry

__all__ = ["Backoff", "BreakerOpen", "CircuitBreaker", "Faults", "Link", "MemoryIdempotencyStore",
           "PermanentError", "Retry", "SqliteIdempotencyStore", "TransientError",
           "dead_letters", "redrive"]
