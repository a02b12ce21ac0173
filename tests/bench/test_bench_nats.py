"""`edalab bench nats` end to end on a small run: a real `nats-server`, real worker processes.
Checks the JSON report's shape only (timings depend on the machine)."""

from __future__ import annotations

import json

from edalab import MemoryBroker
from edalab.bench import nats as bench


def test_bench_nats_json_report(capsys):
    code = bench.main(["--events", "2000", "--repeats", "1", "--latency-events", "200",
                       "--latency-rate", "2000", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # 1 means a target was missed, which is a measurement, not a bug
    for key in ("publish_per_s", "raw_publish_per_s", "consume_per_s", "raw_consume_per_s"):
        assert result[key] > 0, key
    assert set(result["latency_ms"]) >= {"p50", "p99"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert set(result["workers"]) == {"1", "2"}
    assert all(rate > 0 for rate in result["workers"].values())
    for count, cost in result["worker_cpu"].items():  # what each worker run cost
        assert len(cost["workers_s"]) == int(count)
        assert all(s > 0 for s in cost["workers_s"]) and cost["server_s"] > 0  # started here
        assert cost["cpu_us_per_event"] > 0 and cost["cores_ours"] > 0
    assert [t["ratio"] > 0 for t in result["targets"]] == [True, True]


def test_relay_app_forwards_and_keeps_ids(monkeypatch):
    monkeypatch.setenv(bench.RELAY_IN, "in")
    monkeypatch.setenv(bench.RELAY_OUT, "out")
    broker = MemoryBroker(auto_create=True)
    app = bench.relay(broker)
    app.source("in", bench.make_events(10))
    app.run()
    out = [r.event for r in broker.read("out")]
    assert sorted(e.id for e in out) == sorted(str(i) for i in range(10))
    assert {e.type for e in out} == {"tick.done"}


def test_bench_nats_cluster_of_two_is_refused_in_one_line(capsys):
    assert bench.main(["--cluster", "2", "--json"]) == 2
    assert "--cluster needs 3 or more servers" in capsys.readouterr().err
