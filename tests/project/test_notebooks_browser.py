"""The notebooks in a real browser: JupyterLab + Debian Chromium driven by Playwright.

nbval checks what a notebook computes; this checks what a reader sees: the cells run in
JupyterLab's own kernel and front end, and every plotly chart is drawn (an SVG, not an error).

Needs `jupyterlab` and `playwright` (pip) and Chromium (`apt-get install -y chromium`, used at
/usr/bin/chromium or $EDALAB_CHROMIUM). Without them the test is skipped on a developer's machine
and fails in CI (CI=true), so a missing install cannot pass for a green run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = os.environ.get("EDALAB_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_ERRORS = ("Error displaying widget", "Model not found", "Loading widget...")
# A chart is the output element itself (plotly's mimetype renderer) or inside it (a widget).
PLOT = ".jp-OutputArea-child .js-plotly-plot"
# JupyterLab user settings for the run: every cell rendered (the default windowing defers cells
# far below the viewport), and no news or update pop-ups (no network calls, clean screenshots).
SETTINGS = {
    "notebook-extension/tracker": {"windowingMode": "none"},
    "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def _stored_charts(path: Path) -> int:
    """How many plotly charts the committed notebook shows: the run must draw as many."""
    nb = json.loads(path.read_text())
    return sum(PLOTLY_MIME in output.get("data", {})
               for cell in nb["cells"] if cell["cell_type"] == "code"
               for output in cell.get("outputs", []))


NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _missing_tools() -> list[str]:
    missing = []
    if importlib.util.find_spec("jupyterlab") is None:
        missing.append("jupyterlab (pip install jupyterlab)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install playwright)")
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install -y chromium)")
    return missing


@pytest.fixture(scope="module")
def tools() -> None:
    missing = _missing_tools()
    if missing:
        message = "browser check needs " + ", ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI must install them)", pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without_outputs(source: Path, target: Path) -> None:
    """Copy a notebook with its stored outputs removed, so every chart seen comes from the run."""
    nb = json.loads(source.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    target.write_text(json.dumps(nb, indent=1))


@pytest.fixture(scope="module")
def lab(tools, tmp_path_factory):
    """A JupyterLab server on a free loopback port, serving copies of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    for name in NAMES:
        _without_outputs(NOTEBOOKS / name, root / name)
    for plugin, values in SETTINGS.items():
        path = root / ".settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    # EDALAB_REPLAY_S: a dashboard's replay lasts 8 s, not 20 (the checks watch 5.5 s).
    env = dict(os.environ, EDALAB_REPLAY_S="8", JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"),
               JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
    log = (root / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + (root / "jupyterlab.log").read_text())
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer /api/status within 60 s")
            time.sleep(0.25)
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(tools):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_draws_its_charts(name, lab, browser, tmp_path):
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, base, token, name)
        expected = _stored_charts(NOTEBOOKS / name)
        plots = page.locator(PLOT)
        deadline = time.monotonic() + 120
        while plots.count() < expected or _busy(page):
            assert time.monotonic() < deadline, (
                f"after 120 s: {plots.count()} of {expected} charts, "
                f"kernel busy: {_busy(page)}")
            page.wait_for_timeout(250)

        _assert_no_errors(page)
        # Live dashboards (FigureWidgets) draw charts the saved file shows only as text.
        assert plots.count() >= expected
        # A FigureWidget's view may draw its data a moment after the kernel went idle (the
        # widget state syncs on its own): a chart gets 30 s to show its points.
        deadline = time.monotonic() + 30
        points = _points(page)
        while not all(n > 0 for n in points) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            points = _points(page)
        assert all(n > 0 for n in points), f"a chart has no points: {points}"
        for i in range(plots.count()):
            plot = plots.nth(i)
            plot.scroll_into_view_if_needed()
            assert plot.locator("svg.main-svg").first.is_visible()
            box = plot.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 150, box
            chart = tmp_path / f"{Path(name).stem}-chart{i + 1}.png"
            plot.screenshot(path=str(chart))
            _keep(chart)
        shot = tmp_path / (Path(name).stem + ".png")
        page.screenshot(path=str(shot))
        _keep(shot)
        print(f"screenshot: {shot}")
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        _keep(tmp_path / "failure.png")
        raise
    finally:
        page.close()


def _points(page) -> list[int]:
    """Points per chart from plotly's computed traces (`_fullData`): `data` may still hold
    numpy arrays as typed-array specs ({dtype, bdata}), which have no length. A drawn diagram
    (hidden axes: notebook 04's pipeline) counts its shapes instead."""
    return page.evaluate(
        f"() => [...document.querySelectorAll('{PLOT}')]"
        ".map(p => (p._fullData || p.data).reduce((n, t) =>"
        " n + ((t.x || t.y || t.z || t.values || []).length || 0), 0)"
        " || (p._fullLayout.xaxis && p._fullLayout.xaxis.visible === false"
        " ? (p._fullLayout.shapes || []).length : 0))")


def _open_and_run_all(page, base: str, token: str, name: str) -> None:
    """Open notebook `name` in JupyterLab, wait for its kernel, and Run All; once more if no
    cell has started 30 s later (on a loaded machine the first click can come before the
    kernel takes requests)."""
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset", timeout=60_000)
    # The toolbar says idle before a kernel exists; the status bar names the kernel.
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\(ipykernel\) \| Idle")
                 ).first.wait_for(timeout=60_000)
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        page.locator('[data-command="runmenu:run-all"]').first.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            prompts = page.locator(".jp-InputArea-prompt").all_inner_texts()
            if any(re.search(r"\[(\*|\d+)\]", p) for p in prompts):
                return
            page.wait_for_timeout(250)
    raise AssertionError("Run All did not start any cell")


def _assert_no_errors(page) -> None:
    """No cell raised and no widget failed to show."""
    text = page.locator(".jp-NotebookPanel").inner_text()
    assert "Traceback (most recent call last)" not in text, "a cell raised"
    for error in WIDGET_ERRORS:
        assert error not in text


def _keep(shot: Path) -> None:
    """Copy a screenshot to $EDALAB_SCREENSHOT_DIR, when set (e.g. as a CI artifact)."""
    keep = os.environ.get("EDALAB_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def _busy(page) -> bool:
    """A cell is queued or running ([*]) or the kernel is not idle."""
    prompts = page.locator(".jp-InputArea-prompt").all_inner_texts()
    if any("*" in p for p in prompts):
        return True
    return page.locator(".jp-StatusBar-TextItem",
                        has_text=re.compile(r"\| Idle")).count() == 0


# -- live dashboards: Play after Run All, and after running the dashboard's cell again -------

# Points of every chart in an element, from plotly's computed traces (`_fullData`).
_POINTS = ("els => els.reduce((n, p) => n + (p._fullData || []).reduce((m, t) =>"
           " m + Array.from(t.x || []).filter(v => v !== null && v !== undefined).length, 0),"
           " 0)")


def shoot_dashboard(cell, tmp_path: Path, name: str) -> None:
    """A screenshot of the dashboard in `cell`, kept in $EDALAB_SCREENSHOT_DIR when set."""
    shot = tmp_path / name
    cell.locator(".jp-OutputArea-child .widget-vbox").first.screenshot(path=str(shot))
    _keep(shot)


def code_cell(page, text: str):
    """The notebook's code cell whose source contains `text`."""
    cell = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=text))
    assert cell.count() == 1, f"{cell.count()} code cells contain {text!r}"
    return cell.first


def dashboard_points(cell) -> int:
    """Points drawn by the dashboard in `cell`'s output (all its charts)."""
    return cell.locator(".jp-OutputArea-child .widget-vbox .js-plotly-plot").evaluate_all(
        _POINTS)


def assert_fills_width(page, cell) -> None:
    """Every chart of the dashboard in `cell` is drawn as wide as its output area."""
    def widths():
        return cell.locator(".jp-OutputArea-child .widget-vbox .js-plotly-plot").evaluate_all(
            "els => els.map(p => [p._fullLayout.width, p.getBoundingClientRect().width])")
    wait_for(page, lambda: all(drawn >= 0.95 * area for drawn, area in widths()),
             f"a chart is narrower than its area: (drawn, area) {widths()}", 15)


def dashboard_status(cell) -> str:
    """The dashboard's one-line status (ready, running, finished, ...)."""
    texts = cell.locator(".jp-OutputArea-child .widget-html").all_inner_texts()
    return next((t for t in texts if "·" in t), "")


def wait_for(page, condition, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"after {seconds:g} s: {what}"
        page.wait_for_timeout(200)


def play_and_watch(page, cell, *, grow_s: float = 5.0, finish_s: float = 60.0,
                   midway=None) -> list:
    """Press the finished dashboard's Play: it must start again from the first event, its
    point count must keep growing for `grow_s` seconds, and it must end finished; `midway()`
    is called once, 3 s into the replay (a screenshot). Returns the (seconds, points)
    samples."""
    assert "finished" in dashboard_status(cell), dashboard_status(cell)
    full = dashboard_points(cell)
    cell.locator(".widget-play button").first.click()
    wait_for(page, lambda: dashboard_points(cell) < full,
             f"Play did not start the finished run again (still {full} points)", 15)
    started = time.monotonic()
    samples = [(0.0, dashboard_points(cell))]
    while samples[-1][0] < grow_s + 0.5:
        page.wait_for_timeout(500)
        samples.append((time.monotonic() - started, dashboard_points(cell)))
        if midway is not None and samples[-1][0] >= 3.0:
            midway()
            midway = None
        assert "finished" not in dashboard_status(cell), (
            f"the replay ended after {samples[-1][0]:.1f} s: too fast to follow ({samples})")
    # Growing all along: more points in each stretch of 2 s than at its start.
    for t, n in samples:
        later = [m for s, m in samples if s >= t + 2.0]
        if later:
            assert later[0] > n, f"no new points from {t:.1f} s on: {samples}"
    wait_for(page, lambda: "finished" in dashboard_status(cell),
             f"the replay did not finish ({dashboard_status(cell)})", finish_s)
    assert dashboard_points(cell) >= samples[-1][1]
    return samples


def rerun_cell(page, cell) -> None:
    """Run `cell` alone (select it, Ctrl+Enter) and wait until the kernel is idle again."""
    before = cell.locator(".jp-InputPrompt").inner_text()
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    wait_for(page, lambda: cell.locator(".jp-InputPrompt").inner_text() not in (before, "[*]:")
             and not _busy(page), "the dashboard's cell did not run again", 60)
