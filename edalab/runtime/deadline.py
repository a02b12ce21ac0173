"""`Deadline`: run a handler call in a worker thread and stop waiting for it after a number of
wall-clock seconds, so a call that hangs (a dependency that never answers) fails its attempt
instead of stopping the pipeline.

Python cannot stop a thread: a call past its deadline is abandoned, not killed. It goes on in
its daemon thread until it returns (then that thread ends), and the next call gets a fresh
thread. A handler with a timeout should therefore not hold state a late finisher could still
change; its side effects belong behind an idempotent sink.

>>> import time
>>> deadline = Deadline(0.2, "score")
>>> deadline.call(lambda x: x * 2, 21)
42
>>> try:
...     deadline.call(time.sleep, 5)
... except Exception as exc:
...     print(type(exc).__name__, exc)
TransientError handler 'score' did not return within its timeout of 0.2 s
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from edalab.resilience.errors import TransientError

__all__ = ["Deadline"]

_Job = tuple[Callable[[Any], Any], Any, dict, threading.Event]


class Deadline:
    """Calls of `name`'s handler, each given at most `seconds` of wall time."""

    def __init__(self, seconds: float, name: str):
        self.seconds = seconds
        self.name = name
        self.abandoned = 0  # calls given up on (their threads may still be running)
        self._jobs: queue.SimpleQueue[_Job | None] | None = None

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """`fn(arg)` in the worker thread: its result, or its exception raised here, or
        `TransientError` if it has not returned within the deadline."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_work, args=(self._jobs,), daemon=True,
                             name=f"edalab-deadline-{self.name}").start()
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((fn, arg, box, done))
        if not done.wait(self.seconds):
            self._jobs.put(None)  # that thread ends once the late call returns
            self._jobs = None
            self.abandoned += 1
            raise TransientError(f"handler {self.name!r} did not return within its timeout "
                                 f"of {self.seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def close(self) -> None:
        """End the worker thread (after the call it may be running)."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


def _work(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        fn, arg, box, done = job
        try:
            box["result"] = fn(arg)
        except BaseException as exc:  # handed to the caller, who decides
            box["error"] = exc
        finally:
            done.set()
