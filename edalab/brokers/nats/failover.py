"""Riding out a failover: retrying a JetStream request while a cluster re-elects a leader.

When the server that leads a stream dies, its replicas elect a new leader within a few
seconds; meanwhile a request times out, finds no responder, or gets "503 unavailable", and the
client may be reconnecting to another server. Those faults are transient: `retrying` repeats
the request (with backoff) until it succeeds or `bound` seconds have passed, then raises a
`BrokerError` naming the bound. Any other error is the caller's and is raised at once.

Each wait that had to retry is noted as a `Pause` (what waited, from when, how long) in the
broker's `pauses`: `App.run` lists those of its run in `RunStats.pauses`.

A retried publish must not store its event twice: `msg_id` is the de-duplication id
(``Nats-Msg-Id``) the stream remembers within its duplicate window (two minutes by default).

>>> import asyncio
>>> calls = []
>>> async def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise nats.errors.TimeoutError
...     return "stored"
>>> asyncio.run(retrying("publish to 'orders'", flaky, bound=5.0, pause=0.001))
'stored'
>>> len(calls)
3
>>> pauses = []
>>> calls.clear()
>>> _ = asyncio.run(retrying("publish to 'orders'", flaky, 5.0, 0.001, pauses=pauses))
>>> [(p.operation, p.recovered, p.seconds < 1) for p in pauses]
[("publish to 'orders'", True, True)]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableSequence
from typing import NamedTuple, TypeVar

import nats.errors
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

from edalab.brokers.base import BrokerError

__all__ = ["Pause", "msg_id", "note_pause", "retrying", "transient"]

T = TypeVar("T")
_clock = time.monotonic
# JetStream's codes while a cluster has no leader for the asset: 10008 cluster not available,
# 10118 (and 503s) temporarily unavailable.
_UNAVAILABLE = {10008, 10118}


class Pause(NamedTuple):
    """A wait for the cluster: `operation` got no answer from `start` (Unix time, seconds)
    for `seconds`, then went on (`recovered`) or gave up at its bound."""

    operation: str
    start: float
    seconds: float
    recovered: bool = True


def note_pause(pauses: MutableSequence[Pause] | None, operation: str, seconds: float,
               recovered: bool = True) -> None:
    """Add to `pauses` a wait of `operation` for `seconds`, ending now."""
    if pauses is not None:
        pauses.append(Pause(operation, time.time() - seconds, seconds, recovered))


def transient(exc: BaseException) -> bool:
    """Whether `exc` is a fault a leader election or a reconnect causes (worth a retry)."""
    if isinstance(exc, ServiceUnavailableError):
        return True
    if isinstance(exc, APIError) and not isinstance(exc, NoStreamResponseError):
        return exc.code == 503 or exc.err_code in _UNAVAILABLE
    return isinstance(exc, (asyncio.TimeoutError, nats.errors.TimeoutError,
                            nats.errors.NoRespondersError, NoStreamResponseError,
                            nats.errors.ConnectionReconnectingError,
                            nats.errors.StaleConnectionError,
                            nats.errors.OutboundBufferLimitError))


async def retrying(what: str, attempt: Callable[[], Awaitable[T]], bound: float,
                   pause: float = 0.05, *, pauses: MutableSequence[Pause] | None = None) -> T:
    """Await `attempt()` until it succeeds; a transient fault is retried (after `pause`,
    doubling up to 0.5 s) for up to `bound` seconds, then raised as a `BrokerError`. An
    attempt is cut off at the bound (a request's own timeout may be longer). A wait that
    needed a retry is noted in `pauses`."""
    began = _clock()
    deadline = began + bound
    retried = False
    while True:
        try:
            result = await asyncio.wait_for(attempt(), max(deadline - _clock(), 0.05))
            if retried:
                note_pause(pauses, what, _clock() - began)
            return result
        except Exception as exc:
            if not transient(exc):
                raise
            retried = True
            if _clock() + pause > deadline:
                note_pause(pauses, what, _clock() - began, recovered=False)
                reason = str(exc) or type(exc).__name__
                raise BrokerError(
                    f"{what} got no answer within failover_timeout={bound:g} s ({reason}); "
                    "is a quorum of the cluster's servers running?") from None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


def msg_id(source: str, id: str) -> str:
    """The de-duplication id of the event with this `source` and `id` (together they name
    an event, per CloudEvents); a header value holds no line break.

    >>> msg_id("/shop", "42")
    '/shop 42'
    """
    text = f"{source} {id}"
    if "\r" in text or "\n" in text:
        text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text
