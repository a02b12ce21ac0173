"""Theodolite's scalability metrics, found by search over experiments.

``capacity(r)`` is the highest load that meets the SLO with `r` instances; ``demand(l)`` the
fewest instances that meet it at load `l`. Each experiment costs minutes on a real cluster, so
the search runs as few as it can: `meets(load, instances)` is called only where the answer is
not known already.

- ``linear``: try instance counts (or loads) in ascending order until one meets (or fails);
- ``lower_bound=True`` (with linear, for demand): demand does not fall as load grows, so the
  search at a load starts at the demand found for the load below it;
- ``binary``: bisect the sorted candidates (the answer is monotone in them).

>>> meets = lambda load, n: load <= 100 * n  # each instance handles 100 records/s
>>> demand([50, 150, 250, 900], [1, 2, 3, 4], meets)
{50: 1, 150: 2, 250: 3, 900: None}
>>> capacity([1, 2], [50, 100, 150, 200, 250], meets, strategy="binary")
{1: 100, 2: 200}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["STRATEGIES", "capacity", "demand"]

STRATEGIES = ("linear", "binary")

Meets = Callable[[float, int], bool]


def _first_true(candidates: Sequence, test: Callable, strategy: str) -> int | None:
    """Index of the first candidate that passes `test` (they pass from some index on)."""
    if strategy == "linear":
        return next((i for i, c in enumerate(candidates) if test(c)), None)
    lo, hi = 0, len(candidates)  # the answer is in [lo, hi]; hi: none passes
    while lo < hi:
        mid = (lo + hi) // 2
        if test(candidates[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo if lo < len(candidates) else None


def _check(strategy: str, values: Sequence, name: str) -> list:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    out = sorted(values)
    if not out or len(set(out)) != len(out) or out[0] <= 0:
        raise ValueError(f"{name} must be distinct positive numbers, got {list(values)!r}")
    return out


def demand(loads: Sequence[float], instances: Sequence[int], meets: Meets, *,
           strategy: str = "linear", lower_bound: bool = True) -> dict[float, int | None]:
    """Per load, the fewest of `instances` that meet the SLO (None: none of them does)."""
    counts = _check(strategy, instances, "instances")
    out: dict[float, int | None] = {}
    start = 0
    for load in _check(strategy, loads, "loads"):
        i = _first_true(counts[start:], lambda n, load=load: meets(load, n), strategy)
        out[load] = None if i is None else counts[start + i]
        if lower_bound and i is not None:
            start += i
        elif lower_bound:  # none meets this load: none meets the higher ones either
            out.update(dict.fromkeys((x for x in loads if x > load), None))
            break
    return out


def capacity(instances: Sequence[int], loads: Sequence[float], meets: Meets, *,
             strategy: str = "linear") -> dict[int, float | None]:
    """Per instance count, the highest of `loads` that meets the SLO (None: not even the
    lowest)."""
    ordered = _check(strategy, loads, "loads")
    out: dict[int, float | None] = {}
    for n in _check(strategy, instances, "instances"):
        i = _first_true(ordered, lambda load, n=n: not meets(load, n), strategy)
        top = len(ordered) if i is None else i
        out[n] = ordered[top - 1] if top > 0 else None
    return out
