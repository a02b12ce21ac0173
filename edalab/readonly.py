"""Read-only event data: what the embedded broker stores, so no reader changes what another sees.

`MemoryBroker` hands every consumer group the same `Event` object (it has no wire to copy it
over, as NATS has). At publish it swaps each event's JSON containers for read-only copies:
`ReadOnlyDict` and `ReadOnlyList` are a `dict` and a `list` for every reader (they compare
equal, serialise, pickle and ``copy.deepcopy`` as the plain types), but a change raises a
`TypeError` that says how to get a copy to change. An operator may build its output data
read-only at once (``ReadOnlyDict(score=0.2)``): the broker then has nothing to copy.

>>> data = freeze({"amount": 12.5, "tags": ["new"]})
>>> data == {"amount": 12.5, "tags": ["new"]}, isinstance(data, dict)
(True, True)
>>> data["amount"] = 0
Traceback (most recent call last):
TypeError: event data is read-only; copy it first: dict(event.data)
>>> mine = dict(data)
>>> mine["amount"] = 0
>>> data["tags"].append("late")
Traceback (most recent call last):
TypeError: event data is read-only; copy it first: list(...)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import chain, compress, repeat
from operator import attrgetter
from typing import Any

from edalab.events import Event

__all__ = ["ReadOnlyDict", "ReadOnlyList", "freeze", "freeze_data"]


def _read_only_dict(self, *args: object, **kwargs: object) -> None:
    raise TypeError("event data is read-only; copy it first: dict(event.data)")


def _read_only_list(self, *args: object, **kwargs: object) -> None:
    raise TypeError("event data is read-only; copy it first: list(...)")


class ReadOnlyDict(dict):
    """A `dict` whose every change raises `TypeError` (event data as the broker keeps it)."""

    __slots__ = ()
    # every mutator raises: the signatures differ from dict's on purpose
    __setitem__ = __delitem__ = __ior__ = _read_only_dict  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only_dict  # type: ignore[assignment]

    def __reduce__(self):  # pickle and deepcopy give a plain, changeable dict
        return dict, (dict(self),)


class ReadOnlyList(list):
    """A `list` whose every change raises `TypeError` (event data as the broker keeps it)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only_list  # type: ignore[assignment]
    append = extend = insert = pop = remove = reverse = sort = clear = _read_only_list

    def __reduce__(self):
        return list, (list(self),)


_SAFE = frozenset({int, float, str, bool, type(None), bytes, ReadOnlyDict, ReadOnlyList})
_data_of = attrgetter("data")
_set_data = object.__setattr__  # Event is sealed; its data is swapped for an equal value


def freeze(value: Any) -> Any:
    """`value` with its dicts and lists (at any depth) replaced by read-only copies; a bytearray
    becomes bytes. Scalars and what is frozen already come back as they are."""
    cls = value.__class__
    if cls in _SAFE:
        return value
    if isinstance(value, dict):
        if set(map(type, value.values())) <= _SAFE:
            return ReadOnlyDict(value)
        return ReadOnlyDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        if set(map(type, value)) <= _SAFE:
            return ReadOnlyList(value)
        return ReadOnlyList([freeze(v) for v in value])
    if isinstance(value, tuple):
        return tuple(map(freeze, value))
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def freeze_data(events: Iterable[Event]) -> None:
    """Make every event's data read-only (in place: an event is immutable, so its data must
    be too). C-level passes for the common batches: data already read-only or scalars (one
    pass), flat dicts of scalars (one copy each), and dicts whose values are scalars or flat
    dicts of scalars (a feature event's ``{"tx_id": 7, "x": {...}}``: a copy of each dict);
    anything else is frozen event by event.

    >>> batch = [Event("t", "/s", {"x": 1.5}), Event("t", "/s", None)]
    >>> freeze_data(batch)
    >>> [type(e.data).__name__ for e in batch]
    ['ReadOnlyDict', 'NoneType']
    >>> [nested] = batch = [Event("t", "/s", {"id": 7, "x": {"a": 1.0}})]
    >>> freeze_data(batch)
    >>> type(nested.data).__name__, type(nested.data["x"]).__name__
    ('ReadOnlyDict', 'ReadOnlyDict')
    """
    events = events if isinstance(events, list) else list(events)
    datas = list(map(_data_of, events))
    kinds = set(map(type, datas))
    if kinds <= _SAFE:
        return
    if kinds == {dict} and _freeze_dicts(events, datas):
        return
    for event, data in zip(events, datas, strict=True):
        if data.__class__ not in _SAFE:
            _set_data(event, "data", freeze(data))


_IS_DICT = frozenset({dict}).__contains__
_set_item = dict.__setitem__  # fills a read-only copy before anyone can read it


def _freeze_dicts(events: list[Event], datas: list[dict]) -> bool:
    """Freeze a batch whose every data is a dict, in C-level passes, when its values are
    scalars or flat dicts of scalars; False (nothing changed) for any other shape."""
    values = list(chain.from_iterable(map(dict.values, datas)))
    kinds = set(map(type, values))
    frozen: Iterable[ReadOnlyDict]
    if kinds <= _SAFE:
        frozen = map(ReadOnlyDict, datas)
    elif kinds <= _SAFE | {dict}:
        inner_at = list(map(_IS_DICT, map(type, values)))
        inner = list(compress(values, inner_at))
        if not set(map(type, chain.from_iterable(map(dict.values, inner)))) <= _SAFE:
            return False
        copies = list(map(ReadOnlyDict, datas))
        owners = chain.from_iterable(map(repeat, copies, map(len, datas)))
        keys = chain.from_iterable(datas)  # in the order of their values
        deque(map(_set_item, compress(owners, inner_at), compress(keys, inner_at),
                  map(ReadOnlyDict, inner)), maxlen=0)
        frozen = copies
    else:
        return False
    deque(map(_set_data, events, repeat("data"), frozen), maxlen=0)
    return True
