"""`edalab bench health` and `edalab demo health` at a tiny size: they run and report."""

from __future__ import annotations

import json

import pytest

from edalab.bench.health import check_same_scores, news2_from_events
from edalab.bench.health import main as bench
from edalab.cli.demo import health as demo
from edalab.health.validation import Validator
from edalab.streams.vitals import vitals, vitals_events


def test_bench_json_has_the_contract_fields(capsys):
    bench(["--patients", "8", "--hours", "4", "--repeats", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    for key in ("observations", "events_per_s", "peak_mib", "streaming_news2_overhead"):
        assert key in out
    assert out["observations"] == 8 * 4 * 60
    assert set(out["news2_seconds"]) == {"batch-from-events", "frame", "operator", "scoring",
                                         "gather", "numpy", "per-event"}
    assert [m["method"] for m in out["methods"]] == ["news2", "anomaly", "combined"]
    assert {"episodes", "detected", "median_lead_minutes",
            "false_alerts_per_patient_day"} <= set(out["methods"][0])


def test_bench_reports_streaming_news2_against_batch_from_the_same_events(capsys):
    bench(["--patients", "6", "--hours", "3", "--repeats", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    ratio = out["streaming_news2_vs_batch_from_events"]
    assert ratio > 0 and out["streaming_news2_vs_batch_from_events_target"] == 1.2
    assert out["streaming_news2_vs_batch_from_events_within_target"] == (ratio <= 1.2)
    assert out["streaming_news2_scoring_vs_batch_from_events"] > 0
    bench(["--patients", "6", "--hours", "3", "--repeats", "1"])
    text = capsys.readouterr().out
    assert "streaming NEWS2 vs batch from the same events" in text and "target <= 1.2x" in text


def test_batch_from_events_scores_as_the_streaming_operator():
    ward = vitals(patients=10, hours=6, seed=3)
    validator = Validator()
    validated = [v for e in vitals_events(ward) for v in validator.process(e)
                 if v.type == "vitals.validated"]
    first = validated[0].data
    validated.append(validated[0].replace(  # an incomplete set, confused
        id="gap", data={**first, "values": [*first["values"][:5], 2.0, None]}))
    check_same_scores(validated, batch=50)  # raises if they differ
    frame = news2_from_events(validated)
    assert len(frame) == len(validated)
    assert frame["incomplete"].tolist() == [False] * (len(validated) - 1) + [True]
    assert frame["consciousness_points"].iloc[-1] == 3


def test_demo_prints_the_table_and_writes_a_standalone_report(tmp_path, capsys):
    path = tmp_path / "ward.html"
    assert demo(["--patients", "6", "--hours", "12", "--report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "combined" in out and "false_alerts_per_patient_day" in out
    page = path.read_text()
    assert "plotly" in page and "<script" in page and "Methods side by side" in page


def test_demo_refuses_an_unwritable_report_before_running(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        demo(["--patients", "2", "--hours", "2", "--report", str(tmp_path / "no" / "r.html")])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "no directory" in captured.err and captured.out == ""


def test_demo_ward_pages_each_method_before_the_adverse_event_and_says_so(tmp_path, capsys):
    from edalab.health import WardMonitor, compare_methods, verdict

    path = tmp_path / "ward.html"
    assert demo(["--report", str(path), "--clock", "virtual"]) == 0  # the demo ward
    out = capsys.readouterr().out
    ward = vitals(40, 48.0, 15.0, seed=1)
    monitor = WardMonitor().feed(ward)
    monitor.run()
    table = compare_methods({m: monitor.alerts(m) for m in monitor.methods}, ward)
    for method, row in table.iterrows():
        assert 0 < row["detected"] <= row["episodes"], method
        assert row["median_lead_minutes"] > 0 and row["lead_q1_minutes"] > 0, method
        assert row["false_alerts_per_patient_day"] >= 0
        said = f"paged {int(row['detected'])} of {int(row['episodes'])} deteriorations before"
        assert said in out and said in path.read_text()
    assert verdict(table) in out
    for method in monitor.methods:  # the closed loop, per method
        assert f"{method} " in out.split("closed loop")[1]
    assert "prevented" in out and "Closed loop: adverse events prevented" in path.read_text()


def test_bench_reports_the_verdict_and_the_closed_loop(capsys):
    bench(["--patients", "20", "--hours", "36", "--cadence", "15", "--seed", "7",
           "--repeats", "1", "--closed-loop", "--json"])
    out = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in out["methods"]}
    for method, row in rows.items():
        assert f"paged {row['detected']} of {row['episodes']} deteriorations" in out["verdict"]
        assert row["episodes"] > 0 and "lead_q3_minutes" in row, method
    loop = {r["method"]: r for r in out["closed_loop"]}
    assert set(loop) == set(rows)
    assert all(r["prevented"] == r["open_loop_adverse_events"] - r["adverse_events"]
               for r in loop.values())
    assert sum(r["prevented"] for r in loop.values()) > 0
    assert "prevented" in out["closed_loop_verdict"]


def test_news2_timings_freezes_its_batches_with_the_input():
    import gc

    from edalab.bench.health import news2_timings

    ward = vitals(patients=2, hours=1, seed=3)
    validator = Validator()
    validated = [v for e in vitals_events(ward) for v in validator.process(e)
                 if v.type == "vitals.validated"]
    before = gc.get_freeze_count()
    try:
        times = news2_timings(ward, validated, batch=50, repeats=1)
        # the batch lists are frozen: full collections during the timings do not walk them
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
    assert set(times) >= {"operator", "batch-from-events"}
