"""`check_operator` catches each way an operator can break the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edalab import Event
from edalab.operators import Operator
from edalab.testing import check_operator

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EVENTS = [Event("n", "/t", {"v": float(i)}, time=T0 + timedelta(seconds=i)) for i in range(5)]


class Summer(Operator):
    """Emits the running sum; holds the last value until flushed."""

    def __init__(self, start: float = 0.0):
        self.start = start
        self.total = start
        self.held: list[Event] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(start={self.start})"

    @property
    def stats(self) -> dict[str, float]:
        return {"total": self.total}

    def value(self, event: Event) -> float:
        v = event.data.get("v") if isinstance(event.data, dict) else None
        if not isinstance(v, float) or v != v:
            raise ValueError(f"event {event.id}: v must be a number")
        return v

    def process(self, event: Event) -> list[Event]:
        self.total += self.value(event)
        self.held = [event.replace(type="held", id="held")]
        return [event.replace(type="sum", data=self.total, id=f"sum-{event.id}")]

    def flush(self, now: datetime | None = None) -> list[Event]:
        out, self.held = self.held, []
        return out


def test_a_well_behaved_operator_passes():
    check_operator(Summer(), EVENTS)


class KeyErrorOnMissing(Summer):
    def value(self, event: Event) -> float:
        return event.data["v"] + 0.0 if "v" in event.data else {}["v"]


class CorruptsThenRaises(Summer):
    def process(self, event: Event) -> list[Event]:
        self.total += 1.0  # changed before the check below
        return super().process(event)


class FlushesTwice(Summer):
    def flush(self, now: datetime | None = None) -> list[Event]:
        return list(self.held)


class BatchDiffers(Summer):
    def process_batch(self, events: list[Event]) -> list[Event]:
        return super().process_batch(events)[:-1]


class StillStats(Summer):
    @property
    def stats(self) -> dict[str, float]:
        return {"total": 0.0}


class DefaultRepr(Summer):
    __repr__ = object.__repr__


@pytest.mark.parametrize("op, message", [
    (KeyErrorOnMissing(), "raised KeyError"),
    (CorruptsThenRaises(), "state corrupted"),
    (FlushesTwice(), "a second flush must return"),
    (BatchDiffers(), "process_batch"),
    (StillStats(), "stats did not change"),
    (DefaultRepr(), "repr should show"),
], ids=lambda x: type(x).__name__ if isinstance(x, Operator) else "")
def test_a_broken_operator_fails_the_check_that_names_it(op, message):
    with pytest.raises(AssertionError, match=message):
        check_operator(op, EVENTS)


def test_an_operator_with_neither_path_is_refused():
    with pytest.raises(TypeError, match="must implement process"):
        type("Empty", (Operator,), {})
