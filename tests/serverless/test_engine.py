"""`run_function` and a policy: the function seen as Shahrad et al. simulate an application
(idle time from the end of its last execution; the policy's window for the instance that
ends its execution, the same keep-alive for extra instances under every policy)."""

from __future__ import annotations

import numpy as np

from edalab.serverless import Fixed, Hybrid
from edalab.serverless.engine import run_function


class _Spy:
    """A learning policy that records the idle times it is shown and keeps instances 1000 s."""

    learns, pinned, concurrency = True, 0, None

    def __init__(self) -> None:
        self.seen: list[float] = []

    def start(self) -> _Spy:
        return self

    def observe(self, idle_time: float) -> None:
        self.seen.append(idle_time)

    def window(self, t: float) -> tuple[float, float]:
        return t, t + 1000.0

    extra_window = window


def _spans(run) -> list[float]:
    return sorted((run.idle_to - run.idle_from).round(3).tolist())


def test_idle_time_runs_from_the_end_of_the_functions_last_execution_and_is_zero_while_busy():
    # Events at 0, 1 and 20; the first runs 30 s, the second 5 s. At 1 and at 20 the first
    # is still running: the function is not idle, whatever instance falls idle meanwhile.
    # At 100 it has been idle since 30, the end of its last execution.
    spy = _Spy()
    a = np.array([0.0, 1.0, 20.0, 100.0])
    run_function(a, np.array([30.0, 5.0, 1.0, 1.0]), np.array([30.0, 5.0, 1.0, 1.0]), spy)
    assert spy.seen == [0.0, 0.0, 70.0]


def test_hybrid_keeps_extra_instances_as_the_ten_minute_keep_alive_does():
    # Three events at once start three instances. A hybrid policy whose histogram is never
    # representative keeps the function's instance its whole 4-hour range; the two that fall
    # idle while another still runs are extras, kept 600 s, as under Fixed(600).
    a, service = np.zeros(3), np.array([10.0, 20.0, 30.0])
    never_representative = Hybrid(cv_threshold=float("inf"))
    hybrid = run_function(a, service, service, never_representative, end=86_400.0)
    assert _spans(hybrid) == [600.0, 600.0, 14_400.0]
    assert _spans(run_function(a, service, service, Fixed(600))) == [600.0] * 3
    assert _spans(run_function(a, service, service, Hybrid(extra_keep_alive=60.0,
                                                           cv_threshold=float("inf")),
                               end=86_400.0)) == [60.0, 60.0, 14_400.0]
