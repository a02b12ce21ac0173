"""The errors that steer a retry policy: transient (try again), permanent (dead-letter now),
and `BreakerOpen`, what a circuit breaker raises instead of calling a failing dependency.

Each keeps a builtin base callers already catch: a transient fault is a `RuntimeError`, a
permanent one (bad input no retry can mend) a `ValueError`.

>>> from edalab import EdalabError
>>> isinstance(TransientError("model server busy"), (EdalabError, RuntimeError))
True
>>> isinstance(PermanentError("amount is not a number"), (EdalabError, ValueError))
True
>>> str(BreakerOpen("model", 12.5))
"breaker 'model' is open: calls fail fast for 12.5 s more"
"""

from __future__ import annotations

from edalab.errors import EdalabError

__all__ = ["BreakerOpen", "PermanentError", "TransientError"]


class TransientError(EdalabError, RuntimeError):
    """A fault that may pass (a timeout, a busy or unreachable dependency): retry it."""


class PermanentError(EdalabError, ValueError):
    """A fault no retry mends (a poison event, a schema the handler cannot read): the event
    goes to the dead-letter topic at once."""


class BreakerOpen(TransientError):
    """A circuit breaker refused the call without making it; `retry_after` is how many
    seconds (of the breaker's clock) until it lets a probe through. A `TransientError`: the
    dependency may be back later."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"breaker {name!r} is open: calls fail fast for "
                         f"{round(retry_after, 3):g} s more")
        self.name = name
        self.retry_after = retry_after

    def __reduce__(self) -> tuple:
        return self.__class__, (self.name, self.retry_after)
