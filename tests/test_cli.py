"""The `edalab` command: demo, bench, routing errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

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


def test_an_error_escaping_a_command_is_one_line_and_exit_1():
    result = edalab("bench", "bus", "--events", "-5", "--repeats", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("edalab bench bus: error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_edalab_debug_shows_the_traceback():
    result = subprocess.run([sys.executable, "-m", "edalab.cli", "bench", "bus", "--events", "-5",
                             "--repeats", "1"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "EDALAB_DEBUG": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_an_interrupt_exits_130_quietly():
    process = subprocess.Popen([sys.executable, "-m", "edalab.cli", "demo", "cards",
                                "--customers", "5000", "--days", "200"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err


def test_the_usage_text_documents_errors_and_edalab_debug(capsys):
    assert main(["--help"]) == 0
    assert "EDALAB_DEBUG=1" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["demo", "fraud", "--customers", "-5"], ["demo", "health", "--patients", "-1"],
    ["demo", "health", "--hours", "0"], ["demo", "cards", "--days", "0"],
])
def test_a_demo_size_out_of_range_is_a_usage_error_naming_the_option(args):
    result = edalab(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"argument {args[2]}: must be > 0" in result.stderr and result.stdout == ""


def test_an_unwritable_demo_report_is_refused_before_the_run(tmp_path):
    result = edalab("demo", "health", "--patients", "2", "--hours", "1",
                    "--report", str(tmp_path / "missing" / "r.html"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write" in result.stderr and "no directory" in result.stderr
    assert result.stdout == ""  # nothing ran
