"""What a window aggregates: named river statistics compiled from the `aggregate` and `value`
options, and how one window's statistics are fed, merged and read."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

from edalab.events import Event

__all__ = ["Value", "WindowStats"]

_RESERVED = frozenset({"key", "start", "end", "count"})

Value = str | Callable[[Event], Any]


class WindowStats:
    """Compiled `aggregate` and `value` options: named river statistics, each fed one value."""

    def __init__(self, aggregate: Any, value: Value | dict[str, Value] | None):
        if isinstance(aggregate, dict):
            factories = {str(n): _factory(f, n) for n, f in aggregate.items()}
            if not factories:
                raise ValueError("aggregate dict is empty")
            if value is None or isinstance(value, dict):
                given = value or {}
                unknown = set(given) - set(factories)
                if unknown:
                    raise ValueError(f"value names {sorted(unknown)} are not in aggregate")
                sources = {n: given.get(n, None if _is_count(f) else n)
                           for n, f in factories.items()}
            else:
                sources = dict.fromkeys(factories, value)
        else:
            factory = _factory(aggregate, "aggregate")
            if isinstance(value, dict):
                raise TypeError("a dict of values needs a dict of aggregates")
            if value is None and not _is_count(factory):
                raise ValueError("give value= (a data field or a function of the event); "
                                 "only stats.Count needs none")
            name = value if isinstance(value, str) else "value"
            factories, sources = {name: factory}, {name: value}
        clash = _RESERVED & set(factories)
        if clash:
            raise ValueError(f"aggregate names {sorted(clash)} clash with result fields")
        self.names = tuple(factories)
        self.factories = tuple(factories.values())
        self.getters = tuple(_getter(sources[n], n) for n in self.names)
        self.width = len(self.names)
        # The common case, every value a data field: one comprehension, checked at C speed.
        fields = tuple(sources[n] for n in self.names)
        self._fields = fields if all(isinstance(f, str) for f in fields) else None

    def values(self, event: Event) -> list:
        fields = self._fields
        if fields is not None:
            try:
                data = event.data
                values = [data[f] for f in fields]
                s = sum(values)  # None or text raise TypeError; NaN makes s != s
                if s == s:
                    return values
            except (KeyError, TypeError):
                pass
        return [get(event) for get in self.getters]  # the slow path names what is wrong

    def new(self) -> list:
        """Window state: [events, stats, missing values per stat, bound update methods]."""
        stats = [f() for f in self.factories]
        return [0, stats, [0] * self.width, [s.update for s in stats]]

    @staticmethod
    def update(state: list, values: list) -> None:
        state[0] += 1
        if None not in values:
            for update, v in zip(state[3], values, strict=True):
                update(v)
            return
        missing = state[2]
        for i, (update, v) in enumerate(zip(state[3], values, strict=True)):
            if v is None:
                missing[i] += 1
            else:
                update(v)

    @staticmethod
    def merge(into: list, other: list) -> None:
        into[0] += other[0]
        for i, (a, b) in enumerate(zip(into[1], other[1], strict=True)):
            _merge_stat(a, b)
            into[2][i] += other[2][i]

    def result(self, state: list) -> dict:
        out = {}
        count = state[0]
        for name, stat, missing in zip(self.names, state[1], state[2], strict=True):
            value = stat.get() if missing < count else None
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[name] = value
        return out


def _factory(spec: Any, name: Any) -> Callable[[], Any]:
    if not isinstance(spec, type) and hasattr(spec, "update") and hasattr(spec, "clone"):
        return spec.clone  # a statistic instance: fresh copies of it
    if callable(spec):
        return spec
    raise TypeError(f"aggregate {name!r} must be a river statistic or a factory, got {spec!r}")


def _is_count(factory: Callable) -> bool:
    from river import stats

    return factory is stats.Count or isinstance(getattr(factory, "__self__", None), stats.Count)


def _count_all(event: Event) -> int:
    return 1


def _getter(source: Value | None, name: str) -> Callable[[Event], Any]:
    """event -> a number, or None when missing (None or NaN, skipped like pandas does)."""
    if source is None:
        return _count_all
    if isinstance(source, str):
        field = source

        def get(event: Event) -> Any:
            try:
                v = event.data[field]
            except (KeyError, TypeError):
                raise ValueError(f"event {event.id!r}: field {field!r} is missing") from None
            if v.__class__ is float:
                return v if v == v else None
            return _checked(event, field, v)

        return get
    if callable(source):
        fn = source

        def get_fn(event: Event) -> Any:
            return _checked(event, name, fn(event))

        return get_fn
    raise TypeError(f"value for {name!r} must be a field name or a function, got {source!r}")


def _checked(event: Event, name: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, Real):
        return None if v != v else v
    raise ValueError(f"event {event.id!r}: field {name!r} is not numeric "
                     f"({type(v).__name__} {v!r})")


def _merge_stat(a: Any, b: Any) -> None:
    """Fold statistic `b` into `a` (session windows merge when an event bridges them)."""
    from river import stats

    if isinstance(a, stats.Count):
        a.n += b.n
    elif isinstance(a, stats.Sum):
        a.sum += b.sum
    elif isinstance(a, stats.Max):
        a.max = max(a.max, b.max)
    elif isinstance(a, stats.Min):
        a.min = min(a.min, b.min)
    elif getattr(type(a), "__iadd__", None) is not None:
        a += b  # river's Mean, Var, ... merge exactly
    else:
        raise TypeError(f"cannot merge two {type(a).__name__} statistics: session windows need "
                        "mergeable ones (Count, Sum, Min, Max, Mean, Var)")
