"""The `edalab` command: demo, bench, routing errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from edalab.brokers.nats.server import free_port
from edalab.cli import main


def edalab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edalab.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cards_demo_runs_the_pipeline_and_prints_statistics():
    result = edalab("demo", "cards", "--customers", "100", "--days", "10")
    assert result.returncode == 0, result.stderr
    assert "source events" in result.stdout and "score" in result.stdout
    assert "final lag=0" in result.stdout and "alerts:" in result.stdout


def test_demo_without_a_name_runs_the_fraud_demo(tmp_path):
    report = tmp_path / "report.html"
    result = edalab("demo", "--customers", "60", "--days", "30", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "test week" in result.stdout and "final lag=0" in result.stdout
    assert report.stat().st_size > 100_000  # plotly.js is embedded: it opens offline


def idle_worker_app(broker=None):
    from edalab import App

    app = App(broker)
    app.handler("work")(lambda event: None)
    return app


def test_worker_json_reports_handlers_state_and_failover_pauses(capsys):
    assert main(["worker", "tests.cli.test_cli:idle_worker_app", "--idle", "0.2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stopped_by"] == "idle" and report["pauses"] == [] and report["state"] == {}
    assert [h["handler"] for h in report["handlers"]] == ["<lambda>"]


def test_unknown_demo_is_a_clear_error(capsys):
    assert main(["demo", "nope"]) == 2
    assert "unknown demo 'nope'" in capsys.readouterr().err


def test_bench_bus_reports_every_pipeline_as_json():
    result = edalab("bench", "bus", "--events", "2000", "--repeats", "1", "--rss-events",
                    "20000", "--json")
    assert result.returncode in (0, 1), result.stderr  # 1 = a speed target missed
    report = json.loads(result.stdout)  # one document, the memory measurement inside
    memory = report["memory"]
    assert memory["events"] == 20000 and memory["rss_growth_mib_retain_none"] > 0
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
# -- worker and broker errors: one line on stderr, exit 2 (usage) or 1 (failure) -------------


def one_line_error(result_or_err: str, prog: str) -> str:
    """The single error line a failing command printed (and nothing like a traceback)."""
    lines = result_or_err.strip().splitlines()
    assert "Traceback" not in result_or_err
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), result_or_err
    return lines[0]


@pytest.fixture
def app_modules(tmp_path, monkeypatch):
    """A directory of worker modules (the worker imports from the current directory)."""
    (tmp_path / "broken_app.py").write_text("x = 1 / 0\n")
    (tmp_path / "needs_dep.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "good_app.py").write_text("from edalab import App\napp = App()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("spec", "code", "says"), [
    ("no_such_module_xyz:app", 2, "no module named 'no_such_module_xyz'"),
    ("good_app:nope", 2, "module 'good_app' has no attribute 'nope'"),
    ("good_app", 2, "expected MODULE:APP"),
    ("broken_app:app", 1, "importing 'broken_app' failed: ZeroDivisionError: division by zero"),
    ("needs_dep:app", 1, "importing 'needs_dep' failed: No module named 'no_such_dependency_xyz'"),
])
def test_worker_with_a_bad_app_prints_one_line(app_modules, capsys, spec, code, says):
    assert main(["worker", spec]) == code
    err = capsys.readouterr().err
    assert says in one_line_error(err, "edalab worker")


def test_worker_module_error_names_the_line(app_modules, capsys):
    assert main(["worker", "broken_app:app"]) == 1
    assert "broken_app.py, line 1" in capsys.readouterr().err


@pytest.mark.parametrize(("url", "says"), [
    ("nats://127.0.0.1:notaport", "the port is not a number"),
    ("http://127.0.0.1:4222", "is not a NATS server URL"),
    ("nats://:4222", "is not a NATS server URL"),
])
def test_worker_with_a_bad_broker_url_is_a_usage_error(app_modules, capsys, url, says):
    assert main(["worker", "good_app:app", "--broker", url]) == 2
    assert says in one_line_error(capsys.readouterr().err, "edalab worker")


def test_worker_refused_connection_is_a_one_line_failure(app_modules, capsys):
    port = free_port()  # nothing listens there
    assert main(["worker", "good_app:app", "--broker", f"nats://127.0.0.1:{port}"]) == 1
    line = one_line_error(capsys.readouterr().err, "edalab worker")
    assert f"cannot connect to NATS at nats://127.0.0.1:{port}" in line


def test_worker_subprocess_with_unknown_module_exits_2_without_traceback():
    result = edalab("worker", "no_such_module_xyz:app", "--broker", "nats://127.0.0.1:1")
    assert result.returncode == 2
    assert "no module named" in one_line_error(result.stderr, "edalab worker")


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_broker_start_with_a_bad_port_is_a_usage_error(capsys, port):
    assert main(["broker", "start", "--port", port]) == 2
    line = one_line_error(capsys.readouterr().err, "edalab broker")
    assert f"{port!r} is not a TCP port" in line


def test_broker_start_on_a_port_in_use_is_a_one_line_failure():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = edalab("broker", "start", "--port", str(port))
    assert result.returncode == 1
    line = one_line_error(result.stderr, "edalab broker")
    assert f"port {port} on 127.0.0.1 is in use" in line


def test_broker_start_with_user_but_no_password_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("EDALAB_NATS_PASSWORD", raising=False)
    assert main(["broker", "start", "--user", "alice"]) == 2
    assert "EDALAB_NATS_PASSWORD" in one_line_error(capsys.readouterr().err, "edalab broker")
