"""`Instance`: one function instance, a real worker process (``spawn``: a fresh interpreter,
as a new container is) that runs the function's `init` once and then serves one event at a
time, sent over a pipe by the dispatcher in `edalab.serverless.functions`."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from edalab.brokers.base import Record

__all__ = ["Instance"]

_SPAWN = mp.get_context("spawn")


def _serve(conn: Connection, fn: Callable[..., Any], init: Callable[[], Any] | None) -> None:
    """The worker process: `init`, say ready, then run events until told to stop (None)."""
    try:
        state = init() if init is not None else None
    except Exception as exc:  # the instance cannot start: the dispatcher hears why
        conn.send(("init-error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", time.monotonic()))
    while (event := conn.recv()) is not None:
        try:
            out = fn(event, state) if init is not None else fn(event)
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("done", out))


class Instance:
    """A started worker process of a function; ``record`` is the event it is serving (None
    when idle). Its cold start runs from the process start to its ``ready`` message."""

    def __init__(self, fn: Callable[..., Any], init: Callable[[], Any] | None) -> None:
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(target=_serve, args=(child, fn, init), daemon=True)
        self.started = time.monotonic()
        self.process.start()
        child.close()
        self.ready_at: float | None = None
        self.record: Record | None = None
        self.sent_at = 0.0
        self.idle_since = self.started

    @property
    def cold_start_s(self) -> float | None:
        """Process start plus `init`, seconds (None until the instance is ready)."""
        return None if self.ready_at is None else self.ready_at - self.started

    def send(self, record: Record) -> None:
        """Serve `record` (the pipe buffers it while the instance is still starting)."""
        self.record, self.sent_at = record, time.monotonic()
        self.conn.send(record.event)

    def receive(self) -> tuple[str, Any]:
        """The instance's next message; ``("died", reason)`` if its process is gone."""
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            return "died", f"instance process exited with code {self.process.exitcode}"
        if kind == "ready":
            self.ready_at = value
        return kind, value

    def stop(self, kill: bool = False) -> None:
        """Stop the process (at once with `kill`, else after it finishes its loop)."""
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                kill = True
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()
