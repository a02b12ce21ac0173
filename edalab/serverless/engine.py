"""`run_function`: the discrete-event core, one function's instances through its events.

A plain ``heapq`` event loop in virtual time (no simulation library: the only events are
arrivals, completions and expiries, and expiries are settled lazily, so one loop over the
arrivals is all it takes). The semantics are SimFaaS's: an event goes to the most recently
used idle instance if there is one, else a new instance starts (a cold start); an instance
serves one event at a time; an idle instance stops when its keep-alive window ends. Events
beyond the concurrency limit wait, first come first served, for a running instance to finish
(throttled).

The policy sees the function as Shahrad et al. (USENIX ATC 2020, section 4) simulate an
application, one image loaded or not: its idle time is from the end of the function's last
execution to the next event (0 when the event finds an instance running), and its window
applies to the instance that ends the function's execution (the last one running). An
instance that finishes while another still runs is an *extra*, there only because this
simulator models concurrency, which the paper does not: it gets the policy's
``extra_window`` (see `edalab.serverless.policies`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FunctionRun", "coverage", "run_function"]

INF = math.inf


@dataclass(frozen=True)
class FunctionRun:
    """What happened to one function's events and instances (times in seconds).

    ``start``/``finish`` per event (its wait ends at ``start``; a cold event's service
    includes the cold start), ``cold`` per event; ``idle_from``/``idle_to`` the spans an
    instance was warm and idle; ``throttled`` how many events waited for the limit.
    """

    arrival: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    cold: np.ndarray
    idle_from: np.ndarray
    idle_to: np.ndarray
    throttled: int

    @property
    def latency(self) -> np.ndarray:
        """Each event's time from arrival to the end of its execution."""
        return self.finish - self.arrival

    def busy_time(self, begin: float, end: float) -> float:
        """Instance-seconds spent running events within [begin, end]."""
        return _clipped(self.start, self.finish, begin, end)

    def idle_time(self, begin: float, end: float) -> float:
        """Instance-seconds spent warm and idle within [begin, end] (wasted memory time)."""
        return _clipped(self.idle_from, self.idle_to, begin, end)


def _clipped(lo: np.ndarray, hi: np.ndarray, begin: float, end: float) -> float:
    return float(np.clip(np.minimum(hi, end) - np.maximum(lo, begin), 0, None).sum())


def coverage(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The mean number of spans ``[lo, hi)`` covering each bin between `edges`.

    >>> coverage(np.array([0.0, 1.0]), np.array([2.0, 4.0]), np.array([0.0, 2.0, 4.0]))
    array([1.5, 1. ])
    """
    def integral(t: np.ndarray) -> np.ndarray:  # ∫_0^t (spans open at s) ds, per edge
        starts, ends = np.sort(lo), np.sort(hi)
        cs, ce = np.concatenate([[0], np.cumsum(starts)]), np.concatenate([[0], np.cumsum(ends)])
        i, j = np.searchsorted(starts, t), np.searchsorted(ends, t)
        return (t * i - cs[i]) - (t * j - ce[j])

    area = integral(np.asarray(edges, dtype=float))
    return np.diff(area) / np.diff(edges)


def run_function(arrival: np.ndarray, warm: np.ndarray, cold: np.ndarray, policy: Any,
                 end: float = INF) -> FunctionRun:
    """Run one function's events (sorted `arrival` times, each event's `warm` and `cold`
    service times) under `policy` (see `edalab.serverless.policies`); instances still warm
    at the last completion are closed at their expiry or `end`, whichever is first.

    >>> from edalab.serverless.policies import Fixed
    >>> run = run_function(np.array([0.0, 1.0, 50.0]), np.ones(3), np.full(3, 2.0), Fixed(10))
    >>> run.cold.tolist(), run.finish.tolist(), run.idle_from.tolist(), run.idle_to.tolist()
    ([True, True, True], [2.0, 3.0, 52.0], [3.0, 2.0, 52.0], [13.0, 12.0, 62.0])
    """
    state = policy.start()
    window, extra_window = state.window, state.extra_window
    observe, learns = state.observe, state.learns
    limit = policy.concurrency if policy.concurrency is not None else INF
    a, w, c = arrival.tolist(), warm.tolist(), cold.tolist()
    n = len(a)
    start, finish, is_cold = [0.0] * n, [0.0] * n, [False] * n
    running: list[tuple[float, bool]] = []  # heap of (finish, pinned)
    # Idle instances, most recent last: (idle since, warm from, keep until, pinned). An entry
    # whose window has ended is an instance already stopped, dropped when met.
    idle: list[tuple[float, float, float, bool]] = [(0.0, 0.0, INF, True)] * policy.pinned
    spans_from: list[float] = []
    spans_to: list[float] = []
    waiting: deque[int] = deque()
    throttled = 0
    last_end = -INF  # the end of the function's latest execution
    heappush, heappop = heapq.heappush, heapq.heappop

    def complete(until: float) -> None:
        nonlocal last_end
        while running and running[0][0] <= until:
            done, pinned = heappop(running)
            last_end = done
            if waiting:
                j = waiting.popleft()
                start[j], finish[j] = done, done + w[j]
                heappush(running, (finish[j], pinned))
                continue
            if pinned:
                ready, keep = done, INF
            else:
                ready, keep = extra_window(done) if running else window(done)
            idle.append((done, ready, keep, pinned))

    for i in range(n):
        t = a[i]
        if running and running[0][0] <= t:
            complete(t)
        if len(running) >= limit:
            waiting.append(i)
            throttled += 1
            continue
        if learns and (running or last_end > -INF):
            observe(0.0 if running else t - last_end)
        warm_instance = None
        while idle:
            _, ready, keep, pinned = idle.pop()
            if keep <= t:  # stopped at `keep`
                if keep > ready:
                    spans_from.append(ready)
                    spans_to.append(keep)
                continue
            if ready > t:  # a pre-warm still to come: cancelled, this event starts cold
                continue
            spans_from.append(ready)
            spans_to.append(t)
            warm_instance = pinned
            break
        start[i] = t
        if warm_instance is None:
            finish[i] = t + c[i]
            is_cold[i] = True
            heappush(running, (finish[i], False))
        else:
            finish[i] = t + w[i]
            heappush(running, (finish[i], warm_instance))
    complete(INF)
    for _, ready, keep, _ in idle:
        stop = min(keep, end)
        if stop > ready:
            spans_from.append(ready)
            spans_to.append(stop)
    return FunctionRun(np.asarray(a, dtype=float), np.asarray(start), np.asarray(finish),
                       np.asarray(is_cold, dtype=bool), np.asarray(spans_from, dtype=float),
                       np.asarray(spans_to, dtype=float), throttled)
