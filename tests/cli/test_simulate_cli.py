from __future__ import annotations

import argparse
import functools
import os
import stat
import sys

import pandas as pd
import pytest

from edalab.cli import main as edalab
from edalab.cli.common import writable_file
from edalab.cli.simulate import main
from edalab.streams.power_sensors import power_sensors


def test_sensors_csv_holds_what_the_simulator_returns(tmp_path):
    out = tmp_path / "sensors.csv"
    assert main(["sensors", "--sensors", "3", "--duration", "30", "--period-ms", "500",
                 "--seed", "4", "--out", str(out), "--quiet"]) == 0
    expected = power_sensors(sensors=3, duration=30, period_ms=500, seed=4)
    pd.testing.assert_frame_equal(pd.read_csv(out), expected, check_dtype=False)


def test_same_seed_writes_the_same_file_other_seed_another(tmp_path):
    def run(name, seed):
        out = tmp_path / name
        edalab(["simulate", "sensors", "--sensors", "2", "--duration", "1min", "--seed", seed,
                "--out", str(out), "--quiet"])
        return out.read_bytes()

    assert run("a.csv", "1") == run("b.csv", "1") != run("c.csv", "2")


def test_transactions_and_vitals_are_written(tmp_path):
    tx, vit = tmp_path / "tx.csv", tmp_path / "vitals.csv"
    assert main(["transactions", "--customers", "5", "--terminals", "10", "--days", "2",
                 "--seed", "1", "--out", str(tx), "--quiet"]) == 0
    assert main(["vitals", "--patients", "2", "--hours", "2", "--seed", "1",
                 "--out", str(vit), "--quiet"]) == 0
    assert "TX_FRAUD" in pd.read_csv(tx).columns
    assert len(pd.read_csv(vit)) > 0


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    assert main(["sensors", "--duration", "10", "--out", str(tmp_path / "s.csv")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "writing s.csv" in captured.err


def test_compressed_csv_by_suffix(tmp_path):
    out = tmp_path / "sensors.csv.gz"
    assert main(["sensors", "--duration", "10", "--out", str(out), "--quiet"]) == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert len(pd.read_csv(out)) == 100


def test_parquet_round_trips(tmp_path):
    out = tmp_path / "sensors.parquet"
    assert main(["sensors", "--duration", "10", "--out", str(out), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), power_sensors(duration=10),
                                  check_dtype=False)


def test_unknown_kind_is_a_usage_error(capsys):
    assert main(["weather", "--out", "w.csv"]) == 2
    err = capsys.readouterr().err
    assert "unknown kind 'weather'" in err and "transactions, vitals, sensors" in err


def test_unknown_suffix_is_a_usage_error(tmp_path, capsys):
    assert main(["sensors", "--out", str(tmp_path / "s.xlsx")]) == 2
    assert ".parquet" in capsys.readouterr().err


def test_missing_out_and_bad_values_fail_without_traceback(tmp_path, capsys):
    assert main(["sensors"]) == 2
    assert main(["sensors", "--sensors", "many", "--out", str(tmp_path / "s.csv")]) == 2
    assert main(["sensors", "--duration", "-5", "--out", str(tmp_path / "s.csv")]) == 2
    assert "duration" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("kind", "option", "value"), [
    ("transactions", "--customers", "-5"), ("transactions", "--days", "-1"),
    ("transactions", "--terminals", "0"), ("transactions", "--radius", "nan"),
    ("vitals", "--patients", "0"), ("vitals", "--hours", "-2"), ("vitals", "--cadence", "0"),
    ("vitals", "--deterioration-rate", "-0.1"), ("sensors", "--sensors", "0"),
    ("sensors", "--period-ms", "-1000"),
])
def test_a_size_out_of_range_is_a_usage_error_naming_the_option(tmp_path, capsys, kind, option,
                                                                  value):
    assert main([kind, option, value, "--out", str(tmp_path / "s.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_a_missing_output_directory_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    calls = []

    @functools.wraps(power_sensors)
    def spy(*args, **kwargs):
        calls.append(kwargs)
        return power_sensors(*args, **kwargs)

    monkeypatch.setattr(sys.modules["edalab.streams.power_sensors"], "power_sensors", spy)
    out = tmp_path / "nowhere" / "s.csv"
    assert edalab(["simulate", "sensors", "--out", str(out), "--quiet"]) == 2
    assert "no directory" in capsys.readouterr().err and calls == []


def test_help_lists_kinds_and_options(capsys):
    assert main(["--help"]) == 0
    assert "sensors" in capsys.readouterr().out
    assert main(["sensors", "--help"]) == 0
    assert "--period-ms" in capsys.readouterr().out


def test_a_symlink_planted_at_the_part_name_does_not_redirect_the_write(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "sensors.csv"
    (tmp_path / "sensors.csv.part").symlink_to(victim)
    assert main(["sensors", "--duration", "10", "--out", str(out), "--quiet"]) == 0
    assert victim.read_text() == "precious"
    assert len(pd.read_csv(out)) == 100 and not out.is_symlink()


def test_the_file_gets_the_mode_of_an_ordinary_new_file(tmp_path):
    out = tmp_path / "sensors.csv"
    mask = os.umask(0o027)
    try:
        assert main(["sensors", "--duration", "10", "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_failed_write_leaves_neither_the_file_nor_a_part_file(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)  # a full disk cannot be caused here
    assert main(["sensors", "--duration", "10", "--out", str(tmp_path / "s.csv"),
                 "--quiet"]) == 1
    assert not list(tmp_path.iterdir())


def test_writable_file_refuses_what_cannot_be_written_and_leaves_files_alone(tmp_path):
    existing = tmp_path / "report.html"
    existing.write_text("old")
    assert writable_file(str(existing)) == existing and existing.read_text() == "old"
    assert writable_file(str(tmp_path / "new.html")) == tmp_path / "new.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no probe left
    for path, problem in [(tmp_path, "is a directory"),
                          (tmp_path / "report.html" / "r.html", "no directory")]:
        with pytest.raises(argparse.ArgumentTypeError, match=problem):
            writable_file(str(path))
