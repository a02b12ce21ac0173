"""The shipped samples in data/ are what the commands in data/README.md regenerate."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from edalab.cli.simulate import main

DATA = Path(__file__).resolve().parents[2] / "data"
README = DATA / "README.md"
COMMANDS = re.findall(r"^edalab simulate .+$", README.read_text(encoding="utf-8"), re.MULTILINE)


def _out(argv: list[str]) -> str:
    return argv[argv.index("--out") + 1]


def test_every_sample_file_has_a_documented_command():
    documented = {Path(_out(shlex.split(c))).name for c in COMMANDS}
    shipped = {p.name for p in DATA.iterdir() if p.name != "README.md"}
    assert shipped == documented


def test_samples_stay_small():
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 10 * 2**20


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: Path(_out(shlex.split(c))).name)
def test_sample_equals_what_its_command_regenerates(command, tmp_path):
    argv = shlex.split(command)[2:]  # after "edalab simulate"
    shipped = DATA.parent / _out(argv)
    fresh = tmp_path / shipped.name
    argv[argv.index("--out") + 1] = str(fresh)
    assert main([*argv, "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(fresh), pd.read_csv(shipped))
