"""`LabelJoin`: what was predicted, waiting for its label, which may come days later.

A stream of predictions (or feature vectors) and, later, their labels is joined by an id: each
prediction waits under its join id until the label event of that id arrives. The wait is
bounded: past `buffer_size` waiting entries the oldest is evicted (counted, never silently),
and a label with nothing waiting (never seen, evicted, or a second label) is counted as
unmatched. The classifier, the metric operators, the drift monitor and the champion/challenger
policy all join this way, with one `LabelJoin` each.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from edalab.events import Event

__all__ = ["LabelJoin", "label_of"]


def label_of(event: Event, join: str, field: str) -> tuple[Any, Any]:
    """``(join id, label)`` from a label event's data; ValueError naming the event and the
    fields when they are missing (the App then dead-letters it).

    >>> label_of(Event("fraud.label", "/l", {"tx_id": 7, "fraud": 1}), "tx_id", "fraud")
    (7, 1)
    """
    data = event.data
    try:
        return data[join], data[field]
    except (KeyError, TypeError):
        raise ValueError(f"label event {event.id!r}: data needs fields {join!r} and "
                         f"{field!r}") from None


class LabelJoin:
    """A bounded buffer of values waiting for their label, by join id.

    `hold` files a value under its join id; `take` (or `label`, from a label event) removes
    and returns it, or counts the label as unmatched and returns None. Beyond `buffer_size`
    values the oldest is evicted (`evicted`). The entries are a dict (``held``, oldest first)
    and the arrival order of their ids (``order``, which may still name ids already taken):
    a hot loop may append to both itself and call `overflow` once ``len(order)`` exceeds
    `buffer_size` (what `hold` does), which costs less per event than an `OrderedDict`.

    Parameters
    ----------
    buffer_size
        Most values waiting at once.
    label_join, label_field
        Fields of a label event's data holding the join id and the label (for `label`).

    Examples
    --------
    >>> join = LabelJoin(2, label_join="id", label_field="y")
    >>> for jid in ("a", "b", "c"):  # "a" is evicted when "c" arrives
    ...     join.hold(jid, f"x-{jid}")
    >>> join.label(Event("label", "/l", {"id": "b", "y": True}))
    ('x-b', True)
    >>> join.take("a"), join.stats
    (None, {'pending': 1, 'evicted': 1, 'unmatched': 1})
    """

    def __init__(self, buffer_size: int = 100_000, *, label_join: str = "tx_id",
                 label_field: str = "fraud"):
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        self.buffer_size = buffer_size
        self.label_join = label_join
        self.label_field = label_field
        self.held: dict[Any, Any] = {}  # join id -> value, oldest first
        self.order: deque = deque()  # join ids in arrival order, some already taken
        self.evicted = 0
        self.unmatched = 0

    def __repr__(self) -> str:
        return (f"LabelJoin(buffer_size={self.buffer_size}, label_join={self.label_join!r}, "
                f"label_field={self.label_field!r})")

    def __len__(self) -> int:
        return len(self.held)

    @property
    def stats(self) -> dict[str, int]:
        """Values waiting, values evicted, labels that found nothing."""
        return {"pending": len(self.held), "evicted": self.evicted,
                "unmatched": self.unmatched}

    def hold(self, jid: Any, value: Any) -> None:
        """File `value` under `jid` (a value already there is replaced)."""
        self.held[jid] = value
        order = self.order
        order.append(jid)
        if len(order) > self.buffer_size:
            self.overflow()

    def take(self, jid: Any) -> Any:
        """The value waiting under `jid`, removed; None (counted unmatched) if none."""
        value = self.held.pop(jid, None)
        if value is None:
            self.unmatched += 1
        return value

    def label(self, event: Event) -> tuple[Any, Any]:
        """``(value, label)`` of a label event: the value its join id finds (None if none)."""
        jid, y = label_of(event, self.label_join, self.label_field)
        return self.take(jid), y

    def overflow(self) -> None:
        """The arrival order has grown past `buffer_size`: a full buffer evicts its oldest
        value; otherwise the order forgets the ids already taken once it is twice the
        buffer size. (A plain dict cannot find its oldest entry in O(1) once many have been
        deleted; the order can.)"""
        held, order = self.held, self.order
        if len(held) > self.buffer_size:
            while (jid := order.popleft()) not in held:
                pass
            del held[jid]
            self.evicted += 1
        elif len(order) > 2 * self.buffer_size:
            self.order = deque(held)
