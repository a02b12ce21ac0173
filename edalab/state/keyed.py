"""`KeyState`: what a stateful handler gets with each event, the state of the event's key;
`PartitionState`: a partition's keys, what changed since its last checkpoint, its offset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edalab.state.codec import dumps, loads

__all__ = ["KeyState", "PartitionState"]

_MISSING: Any = object()
#: The key under which a checkpoint keeps the offsets nacked and not yet handled.
PENDING = "\x00pending"
#: The key under which an operator's partition state (its ``snapshot()``) is kept.
OPERATOR = "\x00operator"


class PartitionState:
    """The state of one partition of a handler: its keys' values (live objects), the keys
    touched since the last checkpoint, and the next offset to handle."""

    __slots__ = ("values", "dirty", "undo", "offset", "epoch", "pending", "since", "saved_at")

    def __init__(self, values: dict[str, Any], offset: int, epoch: int,
                 pending: set[int] | None = None, saved_at: float = 0.0):
        self.values = values
        self.dirty: set[str] = set()
        self.undo: list[tuple[str, Any]] = []  # (key, value before) of the running call
        self.offset = offset
        self.epoch = epoch
        self.pending = pending or set()  # nacked offsets below `offset`, to come again
        self.since = 0  # events handled since the last checkpoint
        self.saved_at = saved_at

    @classmethod
    def restore(cls, values: dict[str, bytes], offset: int, epoch: int,
                saved_at: float) -> PartitionState:
        """From a backend's snapshot (serialised values)."""
        pending = values.pop(PENDING, None)
        return cls({k: loads(v) for k, v in values.items()}, offset, epoch,
                   set(loads(pending)) if pending else None, saved_at)

    def changes(self) -> dict[str, bytes | None]:
        """What changed since the last checkpoint, serialised (None: deleted); clears it."""
        values = self.values
        out: dict[str, bytes | None] = {
            k: dumps(values[k]) if k in values else None for k in self.dirty}
        out[PENDING] = dumps(sorted(self.pending)) if self.pending else None
        self.dirty = set()
        self.since = 0
        return out

    def rollback(self) -> None:
        """Undo the `set` and `delete` calls of a call that failed (in-place changes of a
        value it got cannot be undone)."""
        values = self.values
        for key, before in reversed(self.undo):
            if before is _MISSING:
                values.pop(key, None)
            else:
                values[key] = before
        self.undo.clear()


class KeyState:
    """The state of one key: `get` (with a default, or the handler's default factory),
    `set`, `delete`.

    >>> part = PartitionState({}, 0, 1)
    >>> state = KeyState(part, "card-7", dict)
    >>> state.get()["count"] = 1   # the default factory's value, kept
    >>> state.get(), state.key, "card-7" in part.dirty
    ({'count': 1}, 'card-7', True)
    >>> state.set(5); state.get()
    5
    >>> state.delete(); state.get(None) is None
    True
    """

    __slots__ = ("_part", "key", "_default")

    def __init__(self, part: PartitionState, key: str, default: Callable[[], Any] | None):
        self._part = part
        self.key = key
        self._default = default

    def __repr__(self) -> str:
        return f"KeyState({self.key!r}, {self._part.values.get(self.key, '<unset>')!r})"

    def get(self, default: Any = _MISSING) -> Any:
        """The key's value; if it has none, `default` when given, else the handler's
        default factory's value (stored), else None. A value got may be changed in place:
        the key is written at the next checkpoint."""
        part = self._part
        values = part.values
        key = self.key
        if key in values:
            part.dirty.add(key)
            return values[key]
        if default is not _MISSING or self._default is None:
            return None if default is _MISSING else default
        value = self._default()
        part.undo.append((key, _MISSING))
        values[key] = value
        part.dirty.add(key)
        return value

    def set(self, value: Any) -> None:
        """Set the key's value."""
        part = self._part
        part.undo.append((self.key, part.values.get(self.key, _MISSING)))
        part.values[self.key] = value
        part.dirty.add(self.key)

    def delete(self) -> None:
        """Forget the key (a no-op if it has no value)."""
        part = self._part
        if self.key in part.values:
            part.undo.append((self.key, part.values.pop(self.key)))
            part.dirty.add(self.key)
