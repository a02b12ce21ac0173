"""`edalab bench trust` at small sizes: the report's keys, proofs of log size, the chain's
linear proof."""

from __future__ import annotations

import json
import math

import pytest

from edalab.bench.trust import main, measure_log

KEYS = {"events", "append_per_s", "root_s", "inclusion_proof_bytes", "verify_inclusion_us",
        "consistency_proof_bytes", "chain_verify_ms"}


def test_bench_trust_json_has_the_reports_keys_per_size(capsys):
    assert main(["--min-events", "10", "--max-events", "1000", "--probes", "5", "--json"]) == 0
    sizes = json.loads(capsys.readouterr().out)["sizes"]
    assert [row["events"] for row in sizes] == [10, 100, 1000]
    for row in sizes:
        assert set(row) >= KEYS and all(row[k] > 0 for k in KEYS)


@pytest.mark.parametrize("n", [1000, 4000])
def test_merkle_proofs_grow_as_log_n_and_the_chains_as_n(n):
    row = measure_log(n, probes=5)
    assert row["inclusion_proof_bytes"] <= 32 * math.ceil(math.log2(n))
    assert row["consistency_proof_bytes"] <= 32 * 2 * math.ceil(math.log2(n))
    assert row["chain_proof_bytes"] == 32 * n


def test_bench_trust_rejects_sizes_out_of_order(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--min-events", "100", "--max-events", "10"])
    assert exit_.value.code == 2
    assert "need 1 <= --min-events <= --max-events" in capsys.readouterr().err
