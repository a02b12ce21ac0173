"""Notebook 04's live ward dashboard in a real browser: after Run All it shows the finished
ward, Play replays it live on a fresh monitor, and running its cell again gives a dashboard
that plays as well (the monitor of the first run is not reused).

JupyterLab + Debian Chromium driven by Playwright, with the server, browser and settings of
`tests.project.test_notebooks_browser`. Needs `jupyterlab` and `playwright` (pip) and Chromium
(`apt-get install -y chromium`, at /usr/bin/chromium or $EDALAB_CHROMIUM); skipped without
them, failed in CI (CI=true).
"""

from __future__ import annotations

import re

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

NOTEBOOK = "04_healthcare_monitoring.ipynb"
CELL = "dashboard = WardDashboard("
EMPTY = re.compile(r"(^|\D)0 (observation sets|patients)")  # a ward shown with no data


def test_ward_dashboard_plays_after_run_all_and_after_its_cell_runs_again(
        lab, browser, tmp_path):  # noqa: F811
    base, token, _ = lab
    # Tall enough for the whole dashboard, so its screenshots are not clipped.
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    try:
        _open_and_run_all(page, base, token, NOTEBOOK)
        cell = code_cell(page, CELL)
        wait_for(page, lambda: "finished" in dashboard_status(cell) and not _busy(page),
                 "the notebook did not run to the end with a finished dashboard", 240)
        _assert_no_errors(page)
        cell.scroll_into_view_if_needed()
        wait_for(page, lambda: dashboard_points(cell) > 0,
                 "the finished dashboard has no points", 30)
        assert not EMPTY.search(dashboard_status(cell)), dashboard_status(cell)
        assert_fills_width(page, cell)
        shoot_dashboard(cell, tmp_path, "04-dashboard-after-run-all.png")

        samples = play_and_watch(page, cell, midway=lambda: shoot_dashboard(
            cell, tmp_path, "04-dashboard-mid-play.png"))
        print(f"replay samples (s, points): {samples}")
        shoot_dashboard(cell, tmp_path, "04-dashboard-replayed.png")

        rerun_cell(page, cell)
        wait_for(page, lambda: "finished" in dashboard_status(cell),
                 "the cell run again shows no finished ward", 30)
        _assert_no_errors(page)
        assert dashboard_points(cell) > 0 and not EMPTY.search(dashboard_status(cell))
        play_and_watch(page, cell)
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        _keep(tmp_path / "failure.png")
        raise
    finally:
        page.close()
