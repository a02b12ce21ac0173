"""`edalab bench scalability`: the report's format, a chart per run, and bad input."""

from __future__ import annotations

import json

from edalab.bench import scalability
from edalab.scalability.study import Study


def test_json_report_has_runs_capacity_demand_and_a_chart_per_run(tmp_path, capsys):
    out = tmp_path / "charts"
    code = scalability.main(["--uc", "uc1", "--broker", "memory", "--loads", "100", "200",
                             "--instances", "1", "2", "--duration", "2", "--json",
                             "--out", str(out)])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert {"uc", "broker", "instances", "load", "slope", "slo_met"} <= set(rep["runs"][0])
    assert [(d["load"], d["instances"]) for d in rep["demand"]] == [(100, 1), (200, 1)]
    assert [(c["instances"], c["capacity"]) for c in rep["capacity"]] == [(1, 200), (2, 200)]
    charts = sorted(p.name for p in out.glob("uc1-*.html"))
    assert len(charts) == len(rep["runs"]) == 4  # each (load, instances) run once
    html = (out / charts[0]).read_text()
    assert "consumer-group lag (records)" in html and "time since the load started (s)" in html
    assert (out / "demand.html").exists()
    assert any("CPU cores" in c for c in rep["caveats"])


def test_instances_beyond_partitions_is_a_one_line_error(tmp_path, capsys):
    code = scalability.main(["--instances", "1", "16", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip() == ("edalab bench scalability: --instances up to 16 need --partitions "
                           ">= that (got 8)")


def test_caveats_say_what_a_small_machine_cannot_show():
    lines = scalability.caveats(Study(brokers=["memory", "nats"]), cores=2)
    assert "NATS instances beyond 1 cannot add throughput" in lines[0]
    assert "never a parallel speed-up" in lines[1]
    assert "5 % of the load" in lines[2]
