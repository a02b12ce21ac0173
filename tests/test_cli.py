"""The `edalab` command: demo, bench, routing errors."""

from __future__ import annotations

import json
import subprocess
import sys

from edalab.cli import main


def edalab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edalab.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cards_demo_runs_the_pipeline_and_prints_statistics():
    result = edalab("demo", "cards", "--customers", "100", "--days", "10")
    assert result.returncode == 0, result.stderr
    assert "source events" in result.stdout and "profile" in result.stdout
    assert "final lag=0" in result.stdout and "alerts:" in result.stdout


def test_demo_without_a_name_runs_the_fraud_demo(tmp_path):
    report = tmp_path / "report.html"
    result = edalab("demo", "--customers", "60", "--days", "30", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "test week" in result.stdout and "final lag=0" in result.stdout
    assert report.stat().st_size > 100_000  # plotly.js is embedded: it opens offline


def test_unknown_demo_is_a_clear_error(capsys):
    assert main(["demo", "nope"]) == 2
    assert "unknown demo 'nope'" in capsys.readouterr().err


def test_bench_bus_reports_every_pipeline_as_json():
    result = edalab("bench", "bus", "--events", "2000", "--repeats", "1", "--json")
    assert result.returncode in (0, 1), result.stderr  # 1 = a speed target missed
    report = json.loads(result.stdout)
    names = {r["name"] for r in report["results"]}
    assert {"a", "b", "c"} <= names
    assert all(r["events"] == 2000 and r["median_events_per_s"] > 0 for r in report["results"])
    assert [t["target"] for t in report["targets"]] == [
        "b >= 0.5x d1", "b >= 5.0x d2", "c >= 0.8x b"]


def test_unknown_commands_and_benchmarks_are_clear_errors(capsys):
    assert main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert main(["bench", "--list"]) == 0
    assert "bus" in capsys.readouterr().out
    assert main([]) == 0
