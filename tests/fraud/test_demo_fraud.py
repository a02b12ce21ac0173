"""`edalab demo fraud` runs end to end and writes a report that opens offline."""

from __future__ import annotations

import json
import re

import pytest

from edalab.cli.demo import fraud as main


def test_demo_prints_the_test_week_and_writes_an_offline_report(tmp_path, capsys):
    report = tmp_path / "report.html"
    code = main(["--customers", "60", "--days", "24", "--model", "lr", "--clock", "virtual",
                 "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert "batch LR (handbook)" in out and "event-driven lr" in out and "dead letters=0" in out
    text = report.read_text()
    assert text.count("Plotly.newPlot") == 5
    assert 'src="https://cdn.plot.ly' not in text and text.count("plotly.js v") == 1


def test_demo_report_explains_the_published_numbers_the_cold_start_and_the_delay(tmp_path,
                                                                                capsys):
    report = tmp_path / "report.html"
    assert main(["--customers", "60", "--days", "24", "--model", "lr", "--clock", "wall",
                 "--report", str(report)]) == 0
    assert "'abstain'" in capsys.readouterr().out  # the decisions printed count them
    text = report.read_text()
    assert "delay=7 days," in text and "7 days 00:00:00" not in text
    assert re.search(r"The published row is the handbook's own run.*\d+ customers buying at "
                     r"\d+ terminals over 24 days.*at most 0\.\d{3}, against 0\.291", text)
    assert re.search(r"the [\d,]+ transactions from 2018-04-01 .* were decided 'abstain'", text)


def test_demo_refuses_too_few_days(capsys):
    with pytest.raises(SystemExit):
        main(["--days", "10"])
    assert "--days must be at least 22" in capsys.readouterr().err


def test_bench_quick_reports_every_model_and_the_targets(capsys):
    from edalab.bench.fraud import main as bench

    bench(["--quick", "--json", "--models", "lr,hst", "--repeats", "1"])
    result = json.loads(capsys.readouterr().out)
    models = [row["model"] for row in result["handbook_test_week"]]
    assert models[:2] == ["batch lr", "batch rf"] and "event-driven hst" in models
    assert all(row["learn_per_s"] > 0 for row in result["handbook_test_week"])
    assert set(result["phishing"]) >= {"roc_auc", "accuracy", "sgd_accuracy", "sgd_f1"}
    assert result["phishing"]["equal_to_river"]
    assert result["overhead_detail"]["raw_us"] > 0  # the ratio is noise at this size
    assert isinstance(result["overhead_vs_raw_river"], float)
    assert set(result["peers"]) == {"bytewax_per_s", "streamz_per_s", "edalab_per_s",
                                    "raw_river_per_s"}
    assert all(rate > 0 for rate in result["peers"].values())
    assert result["peers_detail"]["predictions"] == 3000
    assert isinstance(result["peers_detail"]["targets"]["edalab_faster_than_peers"], bool)
    assert result["wall_s"] > 0 and result["peak_mib"] > 0


def test_demo_refuses_an_unwritable_report_before_running(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--customers", "60", "--days", "24", "--model", "lr", "--clock", "virtual",
              "--report", str(tmp_path)])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "cannot write" in captured.err and "is a directory" in captured.err
    assert captured.out == ""  # the demo did not run
