"""Exactly-once state under failure, for real: ``edalab worker`` processes serving a per-key
count and sum and the fraud features, SIGKILLed several times at seeded points, on a real NATS
server; the final state (keys, customers' and terminals' windows) and the outputs deduplicated
by id equal one process's on the memory broker (NATS state with two workers sharing the
group; SQLite state with one worker restarted after each kill)."""

from __future__ import annotations

import pytest

from edalab.bench._state_failover import run_failover


@pytest.mark.parametrize("backend", ["nats", "sqlite"])
def test_killed_workers_leave_state_and_outputs_exactly_as_one_process(backend):
    # A checkpoint every 250 events of a partition: a kill leaves up to that much to replay.
    result = run_failover(backend, events=3000, kills=2, every=250, seed=7, timeout=240)
    assert result["kills"] == 2
    assert result["mismatched_keys"] == 0
    assert result["missing_outputs"] == 0 and result["mismatched_outputs"] == 0
    assert result["duplicates_after_dedup"] == 0
    assert result["events"] > 3000  # the numbers and the card payments
    assert result["outputs_delivered"] >= result["events"]  # replays: some twice, same ids
