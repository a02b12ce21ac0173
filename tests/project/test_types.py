"""edalab type-checks clean: mypy, configured in pyproject.toml, finds no error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_edalab_type_checks_clean():
    # The config ([tool.mypy]) names the package; the cache (.mypy_cache, git-ignored)
    # makes a second run take a few seconds.
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
