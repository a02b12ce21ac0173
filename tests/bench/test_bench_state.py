"""`edalab bench state`: the report's shape, its numbers coming from the run, and bad options
as a one-line error (the full study with its NATS rows is what `tests/state/test_failover.py`
and a run of the command check)."""

from __future__ import annotations

import json

from edalab.bench import state


def test_json_report_has_the_issue_format(capsys):
    code = state.main(["--backends", "memory,sqlite", "--events", "3000", "--keys", "50",
                       "--every", "500", "--no-failover", "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # 1: a throughput target missed on a loaded machine
    rows = {b["backend"]: b for b in rep["backends"]}
    assert set(rows) == {"memory", "sqlite"}
    for row in rows.values():
        assert {"backend", "events_per_s", "no_checkpoint_events_per_s", "checkpoint_every",
                "state_bytes", "restore_s"} <= set(row)
        assert row["events_per_s"] > 0 and row["checkpoint_every"] == 500
        assert row["checkpoints"] >= 3000 // 500 // 4  # per partition, every 500 events
        assert row["state_bytes"] > 50 * 10  # 50 keys' counts and sums, pickled
    assert [t["ok"] for t in rep["targets"]] == [
        r["ratio"] >= state.MIN_RATIO for r in rep["backends"]]


def test_bad_options_are_a_one_line_error(capsys):
    assert state.main(["--backends", "memory,redis", "--no-failover"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown backend 'redis'" in err
