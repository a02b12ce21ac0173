"""Reading an in-band label event: the id that joins it to what was predicted, and the label."""

from __future__ import annotations

from typing import Any

from edalab.events import Event


def label_of(event: Event, join: str, field: str) -> tuple[Any, Any]:
    """``(join id, label)`` from a label event's data; ValueError naming the event and the
    fields when they are missing (the App then dead-letters it)."""
    data = event.data
    try:
        return data[join], data[field]
    except (KeyError, TypeError):
        raise ValueError(f"label event {event.id!r}: data needs fields {join!r} and "
                         f"{field!r}") from None
