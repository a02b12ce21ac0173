"""Proofs that event data is JSON-writable without writing it: a few C-level passes over a
whole batch (types, keys, one float sum) instead of encoding each event, which for a dict of
floats costs microseconds. `edalab.events.check_serialisable` tries them first and encodes
only what they cannot prove.

>>> proven_safe([{"x": 1.5, "n": 2}, {"x": -0.5, "n": 3}])
True
>>> proven_safe([{"x": float("nan")}]), proven_safe([[1, 2]])
(False, False)
>>> proven_safe_nested([{"tx_id": 7, "x": {"amount": 12.5}}])
True
"""

from __future__ import annotations

from itertools import chain, compress

__all__ = ["proven_safe", "proven_safe_nested"]

_SCALARS = frozenset({float, int, bool, str, type(None)})
_NUMBERS = frozenset({float, int, bool})


def proven_safe_nested(datas: list) -> bool:
    """`proven_safe` one level down: every item a dict under str keys whose values are JSON
    scalars or flat dicts of them (a feature event's ``{"tx_id": 7, "x": {...}}``)."""
    if not datas or not all(issubclass(kind, dict) for kind in set(map(type, datas))):
        return False
    values = list(chain.from_iterable(map(dict.values, datas)))
    kinds = list(map(type, values))
    nested = set(kinds) - _SCALARS
    if not nested or not all(issubclass(kind, dict) for kind in nested):
        return False  # first, as it is cheap: a list inside, say, is encoded event by event
    if set(map(type, chain.from_iterable(datas))) - {str}:  # the keys
        return False
    scalar = list(map(_SCALARS.__contains__, kinds))
    inner = [v for v, s in zip(values, scalar, strict=True) if not s]
    return proven_safe(inner) and proven_safe(list(compress(values, scalar)))



def proven_safe(datas: list) -> bool:
    """Whether every item is a JSON scalar, or every item a flat dict of them under str keys,
    with every number finite and within float range (so far inside the int digit limit).
    False means "not proved", never "unsafe"."""
    distinct = set(map(type, datas))
    if distinct and all(issubclass(kind, dict) for kind in distinct):  # the broker's read-only too
        if set(map(type, chain.from_iterable(datas))) - {str}:  # the keys
            return False
        values = list(chain.from_iterable(map(dict.values, datas)))
    elif distinct <= _SCALARS:
        values = datas
    else:
        return False
    types = list(map(type, values))
    kinds = set(types)
    if not kinds <= _SCALARS:
        return False
    # Summed as floats: NaN or inf anywhere makes the total non-finite, an int past float
    # range raises; a finite total proves every number writable. Numbers alone (the common
    # case: features, scores) are summed as they are; else only the numbers are picked out.
    numbers = values if kinds <= _NUMBERS else compress(values, map(_NUMBERS.__contains__, types))
    try:
        total = sum(numbers, 0.0)
    except OverflowError:
        return False
    return total - total == 0.0
