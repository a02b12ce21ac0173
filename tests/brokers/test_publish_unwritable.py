"""A batch holding an event JSON cannot write is refused whole, on every broker: nothing of it
is appended, and the error names the event's position."""

from __future__ import annotations

import numpy as np
import pytest

from edalab import EventError
from edalab.testing.samples import numbered_event as ev


@pytest.mark.parametrize("bad", [float("nan"), -float("inf"), np.int64(1), 10**5000],
                         ids=["nan", "-inf", "np.int64", "huge-int"])
def test_publish_many_with_an_unwritable_event_appends_nothing(broker, bad):
    broker.create_topic("t", partitions=2)
    events = [ev(i, key=f"k{i}") for i in range(6)]
    events[3] = events[3].replace(data={"i": bad})
    with pytest.raises(EventError, match="event 3 is not JSON-serialisable") as info:
        broker.publish_many("t", events)
    assert info.value.index == 3
    assert broker.read("t") == []
    assert broker.publish_many("t", events[:3] + events[4:]) == 5  # the rest goes through
    assert sorted(r.event.id for r in broker.read("t")) == ["e0", "e1", "e2", "e4", "e5"]


def test_publish_of_an_unwritable_event_appends_nothing(broker):
    broker.create_topic("t")
    with pytest.raises(EventError, match="JSON-serialisable"):
        broker.publish("t", ev(0).replace(data=float("nan")))
    assert broker.read("t") == []
