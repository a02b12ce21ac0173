"""Proofs that event data is JSON-writable without writing it: a few C-level passes over a
whole batch (types, keys, one float sum) instead of encoding each event, which for a dict of
floats costs microseconds. `edalab.events.check_serialisable` tries them first and encodes
only what they cannot prove.

>>> proven_safe([{"x": 1.5, "n": 2}, {"x": -0.5, "n": 3}])
True
>>> proven_safe([{"x": float("nan")}]), proven_safe([[1, 2]])
(False, False)
>>> proven_safe([{"tx_id": 7, "x": {"amount": 12.5}}, {"tx_id": 7, "fraud": 1}])
True
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, compress
from operator import not_

__all__ = ["proven_safe"]

_SCALARS = frozenset({float, int, bool, str, type(None)})
_NUMBERS = frozenset({float, int, bool})


def proven_safe(datas: list) -> bool:
    """Whether every item is a JSON scalar, or every item a dict under str keys whose values
    are JSON scalars or flat dicts of them (a feature event's ``{"tx_id": 7, "x": {...}}``),
    with every number finite and within float range (so far inside the int digit limit).
    False means "not proved", never "unsafe"."""
    distinct = set(map(type, datas))
    if distinct <= _SCALARS:
        return _numbers_finite(datas, distinct)
    if not _all_dicts(distinct) or not _str_keys(datas):
        return False
    values = list(chain.from_iterable(map(dict.values, datas)))
    kinds = set(map(type, values))
    nested = kinds - _SCALARS
    if not nested:
        return _numbers_finite(values, kinds)
    if not _all_dicts(nested):
        return False
    inner_at = list(map(nested.__contains__, map(type, values)))
    inner = list(compress(values, inner_at))
    if not _str_keys(inner):
        return False
    inner_values = list(chain.from_iterable(map(dict.values, inner)))
    inner_kinds = set(map(type, inner_values))
    if not inner_kinds <= _SCALARS:
        return False
    return (_numbers_finite(inner_values, inner_kinds)
            and _numbers_finite(list(compress(values, map(not_, inner_at))), kinds - nested))


def _all_dicts(kinds: Iterable[type]) -> bool:
    return all(issubclass(kind, dict) for kind in kinds)  # the broker's read-only dicts too


def _str_keys(dicts: list) -> bool:
    return not set(map(type, chain.from_iterable(dicts))) - {str}


def _numbers_finite(values: list, kinds: set) -> bool:
    """Summed as floats: NaN or inf anywhere makes the total non-finite, an int past float
    range raises; a finite total proves every number writable. Numbers alone (the common case:
    features, scores) are summed as they are; else only the numbers are picked out. `kinds`
    is the set of the values' types (each type is looked up again only in the mixed case)."""
    numbers = values if kinds <= _NUMBERS else compress(
        values, map(_NUMBERS.__contains__, map(type, values)))
    try:
        total = sum(numbers, 0.0)
    except OverflowError:
        return False
    return total - total == 0.0
