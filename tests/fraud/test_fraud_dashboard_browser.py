"""Notebook 03's live fraud dashboard in a real browser: drawn, and updated by its play button.

JupyterLab + Debian Chromium driven by Playwright, with the server, browser and settings of
`tests.project.test_notebooks_browser` (which checks every stored chart of every notebook); this
test checks what only a browser can show: the dashboard's `FigureWidget` renders (no widget
error), and pressing its play button makes the kernel advance the pipeline and the chart grow.

Needs `jupyterlab` and `playwright` (pip) and Chromium (`apt-get install -y chromium`, at
/usr/bin/chromium or $EDALAB_CHROMIUM); skipped without them, failed in CI (CI=true).
"""

from __future__ import annotations

import time

from tests.project.test_notebooks_browser import (  # noqa: F401, F811  (fixtures, used by name)
    _assert_no_errors,
    _busy,
    _keep,
    _open_and_run_all,
    browser,
    lab,
    tools,
)

NOTEBOOK = "03_fraud_detection.ipynb"
# The dashboard: a plotly chart inside an ipywidgets box (static charts are not in one).
DASHBOARD = ".jp-OutputArea-child .widget-vbox .js-plotly-plot"
POINTS = (f"() => [...document.querySelectorAll('{DASHBOARD}')].map(p => p.data.reduce("
          "(n, t) => n + (t.x || []).filter(v => v !== null).length, 0))")


def _wait(page, condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"after {seconds:g} s: {what}"
        page.wait_for_timeout(250)


def test_dashboard_renders_and_play_updates_it(lab, browser, tmp_path):  # noqa: F811
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run_all(page, base, token, NOTEBOOK)
        dashboard = page.locator(DASHBOARD)
        _wait(page, lambda: dashboard.count() > 0 and not _busy(page),
              "the notebook's cells have not all run, or no dashboard was drawn", 180)

        _assert_no_errors(page)
        dashboard.first.scroll_into_view_if_needed()
        assert dashboard.first.locator("svg.main-svg").first.is_visible()
        # The kernel's last updates reach the chart a moment after the cells are done.
        _wait(page, lambda: page.evaluate(POINTS)[0] > 0,
              "the dashboard has no points after the notebook ran", 30)
        filled = page.evaluate(POINTS)[0]

        # Another model starts the stream again, on empty charts; play then fills them.
        box = page.locator(".jp-OutputArea-child .widget-vbox").filter(
            has=page.locator(".js-plotly-plot"))
        select = box.first.locator(".widget-dropdown select").first
        options = select.evaluate("s => [...s.options].map(o => o.value)")
        other = next(o for o in options if o != select.input_value())
        select.select_option(value=other)
        _wait(page, lambda: page.evaluate(POINTS)[0] < filled,
              "choosing another model did not restart the dashboard", 60)
        before = page.evaluate(POINTS)[0]
        box.first.locator(".widget-play button").first.click()
        _wait(page, lambda: page.evaluate(POINTS)[0] > before,
              f"play did not add points to the dashboard (still {before})", 60)
        grown = page.evaluate(POINTS)[0]
        page.wait_for_timeout(1500)
        assert page.evaluate(POINTS)[0] >= grown > before
        shot = tmp_path / "03-dashboard.png"
        dashboard.first.screenshot(path=str(shot))
        _keep(shot)
    except BaseException:
        page.screenshot(path=str(tmp_path / "failure.png"))
        _keep(tmp_path / "failure.png")
        raise
    finally:
        page.close()

