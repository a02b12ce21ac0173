"""`draws`: samples of a duration distribution given as a mean, a callable, a frozen
distribution or measured samples (the one way every simulator here reads a distribution)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

__all__ = ["Dist", "draws"]

#: A distribution of durations in seconds: None (exponential with the given mean), a number
#: (a constant), a callable ``rng -> sample``, an object with a scipy-like
#: ``rvs(size=, random_state=)``, or a sequence of measured samples (resampled).
Dist = Union[None, float, Callable[[np.random.Generator], float], Sequence[float], Any]  # noqa: UP007 (a runtime alias)


def draws(dist: Dist, mean: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of `dist` (exponential with `mean` when `dist` is None), as floats.

    >>> rng = np.random.default_rng(0)
    >>> draws(None, 2.0, 3, rng).round(3).tolist()
    [1.36, 2.039, 0.04]
    >>> draws(0.25, 2.0, 2, rng).tolist()
    [0.25, 0.25]
    >>> draws(lambda r: 1.0 + r.random(), 0.0, 2, rng).round(3).tolist()
    [1.017, 1.813]
    >>> sorted(set(draws([0.1, 0.2], 0.0, 50, rng).tolist()))
    [0.1, 0.2]
    """
    if dist is None:
        return rng.exponential(mean, n)
    if isinstance(dist, (int, float)):
        return np.full(n, float(dist))
    if hasattr(dist, "rvs"):
        return np.asarray(dist.rvs(size=n, random_state=rng), dtype=float)
    if callable(dist):
        return np.fromiter((dist(rng) for _ in range(n)), dtype=float, count=n)
    samples = np.asarray(dist, dtype=float)
    if samples.ndim != 1 or not len(samples):
        raise ValueError(f"a distribution given as samples needs at least one, got {dist!r}")
    return rng.choice(samples, n)
