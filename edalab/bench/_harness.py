"""Shared benchmark plumbing: repeated timed runs, a results table, ratios, targets.

Machines are noisy, so every contender runs `repeats` times, interleaved, in one process, and
the table reports the best and the median; targets compare ratios measured in the same run.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Contender", "Target", "report", "run_contenders", "timed_rate"]


@dataclass
class Contender:
    """A named pipeline: `run()` processes `n` events and returns how many it saw."""

    name: str
    label: str
    run: Callable[[], int]
    n: int
    rates: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return max(self.rates) if self.rates else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else float("nan")


@dataclass
class Target:
    """`numerator` must reach `ratio` x `denominator` (by median events/s)."""

    numerator: str
    denominator: str
    ratio: float


def run_contenders(contenders: list[Contender], repeats: int) -> None:
    """Run each contender `repeats` times, interleaved, recording events per second.

    A size that cannot be measured (no repeat, no event) is refused before anything runs.
    """
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {repeats}")
    for c in contenders:
        if c.n < 1:
            raise ValueError(f"contender {c.name!r} would process {c.n} events: every size "
                             f"option must be at least 1")
    for _ in range(repeats):
        for c in contenders:
            c.rates.append(timed_rate(c.run, c.n, c.name))


def timed_rate(fn: Callable[[], int], n: int, name: str = "") -> float:
    """Events per second of one run of `fn`, which must return that it handled `n` events
    (garbage collected first, so a previous run's garbage is not timed here)."""
    gc.collect()
    start = time.perf_counter()
    seen = fn()
    elapsed = time.perf_counter() - start
    if seen != n:
        raise AssertionError(f"{name + ' ' if name else ''}processed {seen} events, "
                             f"expected {n}")
    return n / elapsed


def report(title: str, contenders: list[Contender], targets: list[Target], reference: str,
           as_json: bool, extra: dict | None = None) -> int:
    """Print the table (or JSON) and check the targets; returns 0 if all targets hold."""
    by_name = {c.name: c for c in contenders}
    ref = by_name[reference].median
    checks: list[dict] = []
    for t in targets:
        if t.numerator not in by_name or t.denominator not in by_name:
            checks.append({"target": f"{t.numerator} >= {t.ratio}x {t.denominator}",
                           "ratio": None, "ok": None})
            continue
        r = by_name[t.numerator].median / by_name[t.denominator].median
        checks.append({"target": f"{t.numerator} >= {t.ratio}x {t.denominator}",
                       "ratio": round(r, 3), "ok": r >= t.ratio})
    if as_json:
        print(json.dumps({
            "benchmark": title, **(extra or {}),
            "results": [{"name": c.name, "label": c.label, "events": c.n,
                         "best_events_per_s": round(c.best), "median_events_per_s":
                         round(c.median), "ratio_to_reference": round(c.median / ref, 3)}
                        for c in contenders],
            "targets": checks,
        }, indent=2))
    else:
        print(title)
        if extra:
            print("  " + ", ".join(f"{k}={v}" for k, v in extra.items()))
        print(f"  {'':4}{'pipeline':<48}{'best ev/s':>14}{'median ev/s':>14}"
              f"{'x ' + reference:>12}")
        for c in contenders:
            print(f"  {c.name:<4}{c.label:<48}{c.best:>14,.0f}{c.median:>14,.0f}"
                  f"{c.median / ref:>12.2f}")
        for chk in checks:
            state = "n/a (not installed)" if chk["ok"] is None else (
                f"{chk['ratio']:.2f}  {'ok' if chk['ok'] else 'MISSED'}")
            print(f"  target {chk['target']}: {state}")
    return 0 if all(c["ok"] is not False for c in checks) else 1
