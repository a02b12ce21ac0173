"""`MemoryState`: checkpoints in this process's memory, the embedded default.

It survives a consumer-group rebalance inside one process (a second `App` on the same
`MemoryBroker` takes partitions over and restores them), not a restart.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from edalab.state.backend import Checkpoint, FencedError

__all__ = ["MemoryState"]

_PER_BROKER: weakref.WeakKeyDictionary[Any, MemoryState] = weakref.WeakKeyDictionary()


class MemoryState:
    """Checkpoints kept in a dict: per (store, partition) its values, offset and epoch.

    >>> backend = MemoryState()
    >>> snap = backend.claim("counts", 0)
    >>> backend.save("counts", 0, snap.epoch, 10, {"k1": b"3"})
    3
    >>> backend.claim("counts", 0)
    Checkpoint(values={'k1': b'3'}, offset=10, epoch=2)
    """

    name = "memory"

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], tuple[dict[str, bytes], int, int]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryState({len(self._parts)} partitions)"

    @classmethod
    def of(cls, broker: Any) -> MemoryState:
        """The backend shared by every `App` on `broker` (made on first use)."""
        backend = _PER_BROKER.get(broker)
        if backend is None:
            backend = _PER_BROKER[broker] = cls()
        return backend

    def claim(self, store: str, partition: int) -> Checkpoint:
        with self._lock:
            values, offset, epoch = self._parts.get((store, partition), ({}, 0, 0))
            self._parts[store, partition] = (values, offset, epoch + 1)
            return Checkpoint(dict(values), offset, epoch + 1)

    def load(self, store: str, partition: int) -> Checkpoint:
        with self._lock:
            values, offset, epoch = self._parts.get((store, partition), ({}, 0, 0))
            return Checkpoint(dict(values), offset, epoch)

    def save(self, store: str, partition: int, epoch: int, offset: int,
             changes: dict[str, bytes | None]) -> int:
        with self._lock:
            values, _, current = self._parts.setdefault((store, partition), ({}, 0, 0))
            if epoch != current:
                raise FencedError(f"state {store!r} partition {partition}: claimed by epoch "
                                  f"{current} since this member's epoch {epoch}")
            written = 0  # in place: a claim takes a copy
            for key, value in changes.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
                    written += len(key) + len(value)
            self._parts[store, partition] = (values, offset, epoch)
            return written

    def size(self, store: str) -> int:
        with self._lock:
            return sum(len(k) + len(v) for (s, _), (values, _, _) in self._parts.items()
                       if s == store for k, v in values.items())

    def close(self) -> None:
        """Nothing to release."""
