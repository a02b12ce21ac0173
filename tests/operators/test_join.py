from __future__ import annotations

from collections import OrderedDict

import pytest

from edalab import Event
from edalab.operators import LabelJoin


def label(jid, y=True):
    return Event("fraud.label", "/t", {"tx_id": jid, "fraud": y}, id=f"label-{jid}")


def test_a_label_finds_what_was_held_under_its_id_once():
    join = LabelJoin(10)
    join.hold(1, "x1")
    assert join.label(label(1)) == ("x1", True)
    assert join.label(label(1)) == (None, True)  # a second label finds nothing
    assert join.stats == {"pending": 0, "evicted": 0, "unmatched": 1}


def test_a_full_buffer_evicts_the_oldest_and_counts_it():
    join = LabelJoin(3)
    for jid in range(5):
        join.hold(jid, jid)
    assert list(join.held) == [2, 3, 4] and join.evicted == 2
    assert join.take(0) is None and join.unmatched == 1


def test_eviction_matches_an_ordered_dict_under_interleaved_holds_and_takes():
    join, reference, evicted = LabelJoin(50), OrderedDict(), 0
    for i in range(5000):
        join.hold(i, i)
        reference[i] = i
        if len(reference) > 50:
            reference.popitem(last=False)
            evicted += 1
        if i % 3 == 0:  # labels come for some, late
            jid = i - 40
            assert join.take(jid) == reference.pop(jid, None)
    assert list(join.held) == list(reference) and join.evicted == evicted
    assert len(join.order) <= 2 * 50 + 1  # ids already taken are forgotten


def test_a_label_without_its_fields_is_a_clear_error():
    with pytest.raises(ValueError, match=r"label event 'l9': data needs fields 'tx_id' and "
                                         r"'fraud'"):
        LabelJoin().label(Event("fraud.label", "/t", {"fraud": 1}, id="l9"))


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_buffer_size_must_be_a_positive_int(size):
    with pytest.raises(ValueError, match="buffer_size must be an int >= 1"):
        LabelJoin(size)
