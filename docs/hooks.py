"""MkDocs hook: put the notebooks on the site, rendered from their stored outputs.

The notebooks live in ``notebooks/``, outside ``docs/``, and store their plotly charts as
``application/vnd.plotly.v1+json``, which nbconvert does not draw. Before mkdocs-jupyter sees
the files, each notebook is copied to a temporary folder with every such output given an HTML
form (a div and a ``Plotly.newPlot`` call), and plotly.js is served once from ``assets/``; a
live widget, whose state is not stored, becomes a note saying it draws in JupyterLab.
Nothing is executed: the charts are the ones the notebook was committed with.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import plotly.io as pio
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from plotly.offline import get_plotlyjs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"
PLOTLY_JS = "assets/plotly.min.js"
WIDGET = "application/vnd.jupyter.widget-view+json"
# Notebooks are committed without widget state, so a live dashboard has nothing to draw here.
LIVE = ("<p><em>A live dashboard: it draws and follows the stream when the notebook runs in "
        "JupyterLab.</em></p>")

_tmp: list[Path] = []


def _chart_html(figure: dict, script: str) -> str:
    """The HTML of one stored plotly figure; ``script`` loads plotly.js when not empty."""
    div = pio.to_html(figure, include_plotlyjs=False, full_html=False, validate=False)
    return script + div


def _with_html_charts(notebook: dict, plotly_src: str) -> dict:
    """``notebook`` with an HTML form for each plotly output (plotly.js loaded by the first),
    and a note in place of each live widget."""
    script = f'<script src="{plotly_src}"></script>\n'
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY in data:
                data["text/html"] = _chart_html(data.pop(PLOTLY), script)
                script = ""
            elif WIDGET in data:
                output["data"] = {"text/html": LIVE}
    return notebook


def _up(url: str) -> str:
    """The relative path from a page at ``url`` back to the site's root."""
    return "../" * url.count("/")


# Runs before mkdocs-jupyter's on_files (priority 0), so it wraps these files as notebooks.
@event_priority(50)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    folder = Path(tempfile.mkdtemp(prefix="edalab-docs-"))
    _tmp.append(folder)
    (folder / "notebooks").mkdir()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        page = File(f"notebooks/{path.name}", str(folder), config.site_dir,
                    config.use_directory_urls)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        # The URL the notebook's page gets: that of a Markdown page of the same name.
        url = File(f"notebooks/{path.stem}.md", None, "", config.use_directory_urls).url
        notebook = _with_html_charts(notebook, _up(url) + PLOTLY_JS)
        (folder / page.src_uri).write_text(json.dumps(notebook), encoding="utf-8")
        files.append(page)
    files.append(File.generated(config, PLOTLY_JS, content=get_plotlyjs()))
    return files


def on_post_build(config: MkDocsConfig) -> None:
    while _tmp:
        shutil.rmtree(_tmp.pop(), ignore_errors=True)


def on_build_error(error: Exception) -> None:
    on_post_build(None)
