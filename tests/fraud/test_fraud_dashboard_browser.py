"""Notebook 03's live fraud dashboard in a real browser: after Run All it shows the finished
run, Play replays it live, and running its cell again gives a dashboard that plays as well.

JupyterLab + Debian Chromium driven by Playwright, with the server, browser and settings of
`tests.project.test_notebooks_browser` (which checks every stored chart of every notebook); this
test checks what only a browser can show: the dashboard's `FigureWidget` renders (no widget
error), and pressing its play button makes the kernel replay the pipeline while the charts grow.

Needs `jupyterlab` and `playwright` (pip) and Chromium (`apt-get install -y chromium`, at
/usr/bin/chromium or $EDALAB_CHROMIUM); skipped without them, failed in CI (CI=true).
"""

from __future__ import annotations

import os

from tests.project.test_notebooks_browser import (  # noqa: F401, F811  (fixtures, used by name)
    _assert_no_errors,
    _busy,
    _keep,
    _open_and_run_all,
    assert_fills_width,
    browser,
    code_cell,
    dashboard_points,
    dashboard_status,
    lab,
    play_and_watch,
    rerun_cell,
    shoot_dashboard,
    tools,
    wait_for,
)

NOTEBOOK = "03_fraud_detection.ipynb"
CELL = "dashboard = FraudDashboard("


def test_dashboard_plays_after_run_all_and_after_its_cell_runs_again(lab, browser,  # noqa: F811
                                                                      tmp_path):
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, base, token, NOTEBOOK)
        cell = code_cell(page, CELL)
        wait_for(page, lambda: "finished" in dashboard_status(cell) and not _busy(page),
                 "the notebook did not run to the end with a finished dashboard", 240)
        _assert_no_errors(page)
        cell.scroll_into_view_if_needed()
        assert cell.locator("svg.main-svg").first.is_visible()
        wait_for(page, lambda: dashboard_points(cell) > 0,
                 "the finished dashboard has no points", 30)
        assert_fills_width(page, cell)
        shoot_dashboard(cell, tmp_path, "03-dashboard-after-run-all.png")

        samples = play_and_watch(page, cell, midway=lambda: shoot_dashboard(
            cell, tmp_path, "03-dashboard-mid-play.png"))
        print(f"replay samples (s, points): {samples}")
        shoot_dashboard(cell, tmp_path, "03-dashboard-replayed.png")

        rerun_cell(page, cell)
        wait_for(page, lambda: "finished" in dashboard_status(cell),
                 "the cell run again shows no finished run", 30)
        _assert_no_errors(page)
        play_and_watch(page, cell)

        # Another model starts the stream again, on empty charts.
        full = dashboard_points(cell)
        select = cell.locator(".widget-dropdown select").first
        options = select.evaluate("s => [...s.options].map(o => o.value)")
        select.select_option(value=next(o for o in options if o != select.input_value()))
        wait_for(page, lambda: dashboard_points(cell) < full,
                 "choosing another model did not restart the dashboard", 30)
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        _keep(tmp_path / "failure.png")
        raise
    finally:
        page.close()
        if os.environ.get("EDALAB_SCREENSHOT_DIR"):
            print(f"screenshots in {os.environ['EDALAB_SCREENSHOT_DIR']}")
