"""Exactly-once state under failure, for real: ``edalab worker`` processes SIGKILLed several
times at seeded points, on a real NATS server; the final state and the outputs deduplicated
by id equal one process's on the memory broker (NATS state with two workers sharing the
group; SQLite state with one worker restarted after each kill)."""

from __future__ import annotations

import pytest

from edalab.bench._state_failover import run_failover


@pytest.mark.parametrize("backend", ["nats", "sqlite"])
def test_killed_workers_leave_state_and_outputs_exactly_as_one_process(backend):
    result = run_failover(backend, events=3000, kills=2, every=100, seed=7, timeout=240)
    assert result["kills"] == 2
    assert result["mismatched_keys"] == 0
    assert result["missing_outputs"] == 0 and result["mismatched_outputs"] == 0
    assert result["duplicates_after_dedup"] == 0
    # The replays after the kills delivered some outputs twice, under the same ids.
    assert result["outputs_delivered"] >= 3000
