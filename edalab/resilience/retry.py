"""`Retry`: a handler's policy for failed events: how often, how long apart, which errors,
and where the event waits.

Two modes, one trade-off:

- ``"blocking"``: the event waits out its backoff in place, and its partition waits with it.
  Events of one key keep their order; one slow or poisoned event stalls every event behind it
  in its partition until it succeeds or is dead-lettered.
- ``"topics"``: a failed event moves to ``<topic>.retry.<n>`` (`retry_topic`) with a due
  time and is consumed again when due, while healthy events flow on. **Order per key is not
  kept for retried events**: a later event of the same key may be handled before an earlier
  one that is waiting in a retry topic.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal

from edalab.resilience.backoff import Backoff
from edalab.resilience.errors import PermanentError, TransientError

__all__ = ["Retry"]

Mode = Literal["blocking", "topics"]
_MODES = ("blocking", "topics")
_RETRY_MARK = ".retry."


def _exception_types(name: str, value: object) -> tuple[type[BaseException], ...]:
    """`value` (one exception class or a tuple of them) as a tuple, or a clear error."""
    types = value if isinstance(value, tuple) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise TypeError(f"{name} must be an exception class or a tuple of them, "
                            f"got {t!r}")
    return types


class Retry:
    """How a handler retries a failed event before it goes to the dead-letter topic.

    Parameters
    ----------
    max_attempts
        Attempts in all, the first one included (1: no retry).
    backoff
        The waits between attempts (default ``Backoff.exponential()``).
    mode
        ``"blocking"`` (wait in place; key order holds) or ``"topics"`` (retry topics; key
        order is not kept for retried events). See the module docstring.
    retry_on
        Exception types worth retrying (default: any `Exception`). A `TransientError` is
        always retried.
    give_up_on
        Exception types dead-lettered at once, checked before `retry_on` (a
        `PermanentError` always is).
    timeout
        Seconds a handler call may take; a call that takes longer counts as a failed
        attempt (a `TransientError`). None: no limit.

    >>> r = Retry(max_attempts=3, backoff=Backoff.fixed(0.5), give_up_on=KeyError)
    >>> r.decide(TimeoutError("model server"), attempt=1)
    0.5
    >>> r.decide(TimeoutError("model server"), attempt=3) is None  # attempts used up
    True
    >>> r.decide(KeyError("amount"), attempt=1) is None  # give_up_on: dead-letter now
    True
    >>> r.retry_topic("payments", 2)
    'payments.retry.2'
    >>> Retry(max_attempts=0)
    Traceback (most recent call last):
    ...
    ValueError: max_attempts must be an int >= 1, got 0
    """

    def __init__(self, max_attempts: int = 5, backoff: Backoff | None = None,
                 mode: Mode = "blocking",
                 retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
                 give_up_on: type[BaseException] | tuple[type[BaseException], ...] = (),
                 timeout: float | None = None) -> None:
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) \
                or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if backoff is None:
            backoff = Backoff.exponential()
        elif not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff (Backoff.fixed or "
                            f"Backoff.exponential), got {type(backoff).__name__} {backoff!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be 'blocking' or 'topics', got {mode!r}")
        if timeout is not None and (not isinstance(timeout, Real) or isinstance(timeout, bool)
                                    or not math.isfinite(timeout) or timeout <= 0):
            raise ValueError(f"timeout must be a number of seconds > 0 or None, "
                             f"got {timeout!r}")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.mode = mode
        self.retry_on = _exception_types("retry_on", retry_on)
        self.give_up_on = _exception_types("give_up_on", give_up_on)
        self.timeout = None if timeout is None else float(timeout)

    def retryable(self, exc: BaseException) -> bool:
        """Whether `exc` is worth another attempt, whatever the attempt count."""
        if isinstance(exc, (PermanentError, *self.give_up_on)):
            return False
        return isinstance(exc, (TransientError, *self.retry_on))

    def decide(self, exc: BaseException, attempt: int) -> float | None:
        """After `attempt` (1 for the first) failed with `exc`: the seconds to wait before
        the next attempt, or None to dead-letter the event now (a `PermanentError`, a
        `give_up_on` type, a type not in `retry_on`, or the last attempt)."""
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
        if attempt >= self.max_attempts or not self.retryable(exc):
            return None
        return self.backoff.delay(attempt)

    def retry_topic(self, topic: str, n: int) -> str:
        """The name of `topic`'s `n`-th retry tier (``"topics"`` mode): where an event waits
        after its `n`-th failed attempt; tiers run from 1 to ``max_attempts - 1``."""
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"topic must be a non-empty str, got {topic!r}")
        if _RETRY_MARK in topic:
            raise ValueError(f"{topic!r} is already a retry topic; name the original topic")
        last = self.max_attempts - 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= last:
            tiers = f"1 to {last}" if last else "none: max_attempts is 1"
            raise ValueError(f"retry tier must be an int in {tiers}, got {n!r}")
        return f"{topic}{_RETRY_MARK}{n}"

    def retry_topics(self, topic: str) -> list[str]:
        """All of `topic`'s retry tiers, in order.

        >>> Retry(max_attempts=3, mode="topics").retry_topics("payments")
        ['payments.retry.1', 'payments.retry.2']
        """
        return [self.retry_topic(topic, n) for n in range(1, self.max_attempts)]

    def __repr__(self) -> str:
        names = lambda types: "(" + ", ".join(t.__name__ for t in types) + ")"  # noqa: E731
        return (f"Retry(max_attempts={self.max_attempts}, backoff={self.backoff!r}, "
                f"mode={self.mode!r}, retry_on={names(self.retry_on)}, "
                f"give_up_on={names(self.give_up_on)}, timeout={self.timeout!r})")
