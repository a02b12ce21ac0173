"""A standalone HTML report of a `FraudPipeline` run: the test-week comparison, the metrics over
event time with model versions, the score distributions, the decisions per day, and the run's
throughput and lag. plotly.js is embedded once, so the file opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edalab.fraud import charts as fraud_charts
from edalab.runtime.stats import RunStats
from edalab.viz.run_charts import throughput_and_lag

__all__ = ["fraud_report"]


def fraud_report(pipe: Any, results: Sequence[Mapping[str, Any]], stats: RunStats,
                 path: str | Path = "fraud_report.html", *,
                 title: str = "edalab: event-driven fraud detection") -> Path:
    """Write the report of `pipe`'s run to `path`; returns the path.

    Parameters
    ----------
    pipe
        A `FraudPipeline` that has run.
    results
        Test-week rows (``model``, ``kind``, ``auc_roc``, ``average_precision``,
        ``card_precision_at_100``, optionally ``learn_per_s``), e.g. the batch baseline's and
        ``pipe.test_week()``'s.
    stats
        The run's `RunStats`.
    path
        Where to write the HTML file.
    title
        The page title.

    Examples
    --------
    >>> import tempfile
    >>> from edalab.fraud.pipeline import FraudPipeline
    >>> from edalab.streams import transactions
    >>> pipe = FraudPipeline().feed(transactions(n_customers=20, n_terminals=40, days=10, seed=1))
    >>> stats = pipe.run()
    >>> rows = [{"model": "x", "auc_roc": 0.8, "average_precision": 0.5,
    ...          "card_precision_at_100": 0.2}]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     text = fraud_report(pipe, rows, stats, f"{tmp}/r.html").read_text()
    >>> text.count("plotly.js v"), text.count("Plotly.newPlot")  # plotly.js once, 5 figures
    (1, 5)
    """
    figures = [
        ("Test week: the handbook's protocol", fraud_charts.model_comparison(results)),
        ("Prequential metrics over event time",
         fraud_charts.metrics_over_time(pipe.metrics(), pipe.models())),
        ("Scores of genuine and fraudulent transactions",
         fraud_charts.score_distribution(pipe.predictions().dropna(subset=["score"]), pipe.df,
                                         thresholds=pipe.thresholds)),
        ("Decisions per day", fraud_charts.decisions_over_time(pipe.decisions())),
        ("Throughput and lag", throughput_and_lag(stats.timeline)),
    ]
    table = fraud_charts.comparison_frame(results).to_html(float_format="{:.3f}".format)
    handlers = stats.to_frame().to_html(float_format="{:,.3f}".format)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
             "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"
             "</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(repr(pipe))}; model versions: {len(pipe.models())}</p>",
             f"<p>{html.escape(stats.summary())}</p>",
             "<h2>Test week</h2>", table, "<h2>Handlers</h2>", handlers]
    for i, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                                 div_id=f"figure-{i}"))
    parts.append("</body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

