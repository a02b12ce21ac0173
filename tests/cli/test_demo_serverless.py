"""`edalab demo serverless`: the policies table and the break-even load."""

from __future__ import annotations

import pytest

from edalab.cli.demo import main


def test_demo_serverless_prints_policies_and_the_break_even(capsys):
    assert main(["serverless", "--functions", "10", "--hours", "2"]) == 0
    out = capsys.readouterr().out
    for policy in ("fixed-10min", "fixed-20min", "hybrid", "provisioned-1", "always-on"):
        assert f"  {policy} " in out
    assert "break-even: one always-on worker is cheaper above" in out


def test_demo_serverless_refuses_a_bad_option_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serverless", "--hours", "0"])
    assert exit_.value.code == 2
    assert "--hours: must be > 0" in capsys.readouterr().err
