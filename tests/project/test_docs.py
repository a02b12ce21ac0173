"""The documentation site builds with no warning: API reference and notebooks (mkdocs.yml)."""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _doctests_extension():
    spec = importlib.util.spec_from_file_location("griffe_doctests",
                                                  ROOT / "docs" / "griffe_doctests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_doctests_are_fenced_and_examples_sections_left_alone():
    ext = _doctests_extension()
    assert doctest.testmod(ext).failed == 0
    after_params = "Sum.\n\nParameters\n----------\nx\n    A number.\n\n>>> f(1)\n1"
    assert ext.fence_doctests(after_params).splitlines()[-4:] == [
        "Examples", "--------", ">>> f(1)", "1"]
    in_examples = "Sum.\n\nExamples\n--------\n>>> f(1)\n1"
    assert ext.fence_doctests(in_examples) == in_examples


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict`` (about 20 s)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # the theme's banner is not a warning of ours
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNING" not in log, log
    return out


def test_site_builds_strict_with_every_package_page(site):
    pages = {p.parent.name for p in (site / "api").glob("*/index.html")}
    assert pages >= {"events", "brokers", "runtime", "ml", "streams", "patterns", "fraud",
                     "health", "viz"}
    brokers = (site / "api" / "brokers" / "index.html").read_text()
    for name in ("edalab.brokers.MemoryBroker", "NatsBroker", "dead_letter_topic"):
        assert name in brokers


def test_lazy_packages_show_their_submodules(site):
    # edalab.fraud and edalab.patterns export names through __getattr__, which a static
    # reader cannot follow: their pages must list the modules instead.
    assert "FraudPipeline" in (site / "api" / "fraud" / "index.html").read_text()
    assert "SqliteEventStore" in (site / "api" / "patterns" / "index.html").read_text()


def test_bare_doctests_render_as_code_not_quotes(site):
    page = (site / "api" / "brokers" / "index.html").read_text()
    assert "&gt;&gt;&gt;" in page
    assert "<blockquote>" not in page


def test_notebooks_render_with_their_stored_charts(site):
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        stored = sum("application/vnd.plotly.v1+json" in output.get("data", {})
                     for cell in json.loads(path.read_text())["cells"]
                     for output in cell.get("outputs", []))
        page = (site / "notebooks" / path.stem / "index.html").read_text()
        assert len(re.findall(r"Plotly\.newPlot\(", page)) == stored, path.name
        assert page.count('src="../../assets/plotly.min.js"') == (stored > 0), path.name
        assert "VBox(children=" not in page, path.name  # a live widget's repr is no chart
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
