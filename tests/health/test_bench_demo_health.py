"""`edalab bench health` and `edalab demo health` at a tiny size: they run and report."""

from __future__ import annotations

import json

import pytest

from edalab.bench.health import main as bench
from edalab.cli.demo import health as demo


def test_bench_json_has_the_contract_fields(capsys):
    bench(["--patients", "8", "--hours", "4", "--repeats", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    for key in ("observations", "events_per_s", "peak_mib", "streaming_news2_overhead"):
        assert key in out
    assert out["observations"] == 8 * 4 * 60
    assert set(out["news2_seconds"]) == {"frame", "operator", "scoring", "gather", "numpy",
                                         "per-event"}
    assert [m["method"] for m in out["methods"]] == ["news2", "anomaly", "combined"]
    assert {"episodes", "detected", "median_lead_minutes",
            "false_alerts_per_patient_day"} <= set(out["methods"][0])


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
