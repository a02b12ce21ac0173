"""`State`: how a handler keeps its state (``@app.handler(topic, state=State(...))``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edalab.state.backend import StateBackend

__all__ = ["State"]


class State:
    """A stateful handler's options.

    Parameters
    ----------
    backend
        Where checkpoints go: None for the embedded default (`MemoryState` shared by the
        apps on the same broker), `SQLiteState(path)` to survive a restart, `NatsState` to
        survive a worker's death on NATS.
    every, seconds
        Checkpoint a partition after `every` events handled, or `seconds` of wall time since
        its last checkpoint (None: not by time), whichever comes first; and when the run
        ends. A takeover replays at most what came after the last checkpoint.
    default
        A factory for the value of a key seen for the first time (``dict``, ``lambda:
        {"n": 0}``), or None.
    name
        The store's name in the backend (default ``<topic>.<group>``): two apps that share
        a name share the state.
    durable
        False keeps the state in this process only: no checkpoint, no restore (what a
        partition's new owner gets is empty). The cost of durability is the difference.

    >>> State(every=500, default=dict)
    State(backend=embedded, every=500, seconds=None)
    """

    def __init__(self, backend: StateBackend | None = None, *, every: int = 1000,
                 seconds: float | None = None, default: Callable[[], Any] | None = None,
                 name: str | None = None, durable: bool = True):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"State: every must be a whole number >= 1, got {every!r}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"State: seconds must be > 0 or None, got {seconds!r}")
        if default is not None and not callable(default):
            raise TypeError(f"State: default must be a factory (a callable such as dict), "
                            f"got {type(default).__name__}")
        if backend is not None and not isinstance(backend, StateBackend):
            raise TypeError(f"State: backend must be a state backend (MemoryState, "
                            f"SQLiteState, NatsState), got {type(backend).__name__}")
        self.backend = backend
        self.every = every
        self.seconds = seconds
        self.default = default
        self.name = name
        self.durable = durable

    def __repr__(self) -> str:
        backend = "embedded" if self.backend is None else self.backend.name
        if not self.durable:
            return "State(durable=False)"
        return f"State(backend={backend}, every={self.every}, seconds={self.seconds})"
