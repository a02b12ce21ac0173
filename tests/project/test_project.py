"""The project's own files agree with each other: dependency lists, lint, README commands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_installs_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("lab", "test", "bench"):
        declared += [r for r in project["optional-dependencies"][extra]
                     if not r.startswith("edalab")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed += [r for r in dep["pip"] if not r.startswith("-e")]
        elif _name(dep) not in ("python", "pip"):
            listed.append(dep)
    normalise = lambda reqs: sorted(r.replace(" ", "").lower() for r in reqs)  # noqa: E731
    assert normalise(listed) == normalise(declared)


def test_code_is_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < 200
    install, test = block.group(1).strip().splitlines()
    assert "pip install" in install and install.endswith("edalab demo")
    assert test.endswith("pytest")
