"""`edalab bench serverless`: the report in the format of issue 17, every number measured."""

from __future__ import annotations

import json

from edalab.bench import serverless


def test_bench_serverless_json_has_the_issue_format(capsys):
    code = serverless.main(["--functions", "20", "--hours", "2", "--cold-starts", "2",
                            "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(rep) == {"simfaas_example", "policies", "real_cold_start_ms",
                        "simulated_hours", "functions", "wall_s"}
    assert set(rep["simfaas_example"]) == {"p_cold", "avg_instances", "avg_running",
                                           "avg_idle"}
    assert [p["policy"] for p in rep["policies"]] == list(serverless.policies())
    assert all(set(p) == {"policy", "cold_start_share", "wasted_gb_s", "p99_ms",
                          "cost_per_million"} for p in rep["policies"])
    assert rep["real_cold_start_ms"]["n"] == 2 and rep["real_cold_start_ms"]["median"] > 0
    assert (rep["functions"], rep["simulated_hours"]) == (20, 2.0)
    always_on = rep["policies"][-1]
    assert always_on["cold_start_share"] == 0


def test_bench_serverless_refuses_bad_options(capsys):
    assert serverless.main(["--hours", "0"]) == 2
    assert "--hours must be > 0" in capsys.readouterr().err
