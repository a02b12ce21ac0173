"""`edalab.streams.merge`: event streams interleaved by event time, lazily and stably."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from edalab import Event
from edalab.streams import label_events, merge, transaction_events, transactions

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _at(minutes, name):
    return Event("t", "/test", None, id=name, time=T0 + timedelta(minutes=minutes))


def test_merge_puts_each_label_after_the_transactions_made_before_it_was_known():
    df = transactions(customers=30, terminals=60, days=12, seed=3)
    merged = list(merge(transaction_events(df), label_events(df, delay="7D")))
    assert len(merged) == 2 * len(df)
    times = [e.time for e in merged]
    assert times == sorted(times)
    seen = set()
    for e in merged:
        if e.type == "card.transaction":
            seen.add(e.data["TX_ID"])
        else:
            assert e.data["tx_id"] in seen  # never a label before its transaction


def test_merge_keeps_ties_in_stream_order_then_argument_order():
    a = [_at(0, "a0"), _at(5, "a1"), _at(5, "a2")]
    b = [_at(5, "b0"), _at(5, "b1"), _at(9, "b2")]
    assert [e.id for e in merge(a, b)] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert [e.id for e in merge(b, a)] == ["a0", "b0", "b1", "a1", "a2", "b2"]


def test_merge_is_lazy_over_endless_streams():
    ticks = (_at(2 * i, f"even{i}") for i in itertools.count())
    tocks = (_at(2 * i + 1, f"odd{i}") for i in itertools.count())
    first = [e.id for e in itertools.islice(merge(ticks, tocks), 4)]
    assert first == ["even0", "odd0", "even1", "odd1"]


def test_merge_of_nothing_or_empty_streams_is_empty():
    assert list(merge()) == [] and list(merge([], [])) == []


def test_merge_refuses_a_stream_that_goes_back_in_time_naming_it():
    late = [_at(1, "x0"), _at(3, "x1"), _at(2, "x2")]
    with pytest.raises(ValueError, match=r"stream 1 is not in event-time order: event 'x2'"):
        list(merge([_at(0, "a")], late))


def test_merge_refuses_what_is_not_an_event():
    with pytest.raises(TypeError, match="stream 0 yielded a dict, not an Event"):
        list(merge([{"time": T0}]))
