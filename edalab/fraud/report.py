"""A standalone HTML report of a `FraudPipeline` run that explains itself: the test-week
comparison (and why the handbook's published numbers differ from this run's), the cold-start
week, the metrics over event time with model versions, the score distributions, the decisions
per day, and the run's throughput. plotly.js is embedded once, so the file opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from edalab.durations import duration_text
from edalab.fraud import charts as fraud_charts
from edalab.runtime.stats import RunStats

__all__ = ["BOOK_SETTING", "cold_start_note", "fraud_report", "published_note"]

#: The simulation behind the handbook's published numbers (`edalab.fraud.handbook.HANDBOOK_LR`):
#: its chapter 3 data set, 183 days from 2018-04-01, training week from 2018-07-25.
BOOK_SETTING = {"customers": 5000, "terminals": 10_000, "days": 183,
                "start_train": "2018-07-25"}


def _days(df: pd.DataFrame) -> int:
    times = pd.to_datetime(df["TX_DATETIME"])
    return int((times.max().normalize() - times.min().normalize()).days) + 1


def published_note(df: pd.DataFrame, start_train: str | None = None) -> str:
    """Why the handbook's published numbers differ from this run's, in plain words computed
    from `df`: the two simulations' sizes, this run's training and test weeks, and the most
    card precision@100 the test week allows (its compromised cards a day, over 100).

    `start_train` is the first training day (default: three weeks before the end of `df`).
    """
    from edalab.fraud.handbook import HANDBOOK_LR, train_test_split

    if start_train is None:
        last = pd.to_datetime(df["TX_DATETIME"]).max().normalize()
        start_train = str((last - pd.Timedelta(days=20)).date())
    train, test = train_test_split(df, start_train=start_train)
    cards = test[test["TX_FRAUD"] == 1].groupby("TX_TIME_DAYS")["CUSTOMER_ID"].nunique()
    cards = cards.reindex(sorted(test["TX_TIME_DAYS"].unique()), fill_value=0)
    ceiling = float(cards.clip(upper=100).mean() / 100) if len(cards) else 0.0
    book = BOOK_SETTING
    return (
        f"The published row is the handbook's own run, not this one: its logistic regression "
        f"was trained and tested on {book['customers']:,} customers and "
        f"{book['terminals']:,} terminals over {book['days']} days. This run's data has "
        f"{df['CUSTOMER_ID'].nunique():,} customers buying at {df['TERMINAL_ID'].nunique():,} "
        f"terminals over {_days(df)} days ({len(df):,} transactions): its training week "
        f"(from {start_train}) holds {len(train):,} transactions with "
        f"{int(train['TX_FRAUD'].sum()):,} frauds to learn from, its test week "
        f"{len(test):,} transactions with {int(test['TX_FRAUD'].sum()):,} frauds on "
        f"{cards.mean():.1f} compromised cards a day. Card precision@100 can be no higher "
        f"than a day's compromised cards over 100: here at most {ceiling:.3f}, against "
        f"{HANDBOOK_LR['card_precision_at_100']:.3f} published; and fewer frauds to learn "
        f"from tend to lower ROC AUC and average precision. The batch LR computed on this "
        f"run's data (the handbook's method, the same test week) is the like-for-like "
        f"comparison; the published numbers are a reference for the method at the book's "
        f"scale.")


def cold_start_note(pipe: Any) -> str:
    """What the cold-start week did, computed from `pipe`'s decisions: how many transactions
    were decided ``abstain`` before the model learned its first label, until when, and how
    many of them an untrained model would have sent to review."""
    decisions = pipe.decisions()
    cold = decisions[decisions["decision"] == "abstain"]
    review = pipe.thresholds["review"]
    if cold.empty:
        if getattr(pipe, "warmup", 0) == 0:
            return ("Cold start: warmup=0, so decisions follow the model's scores from the "
                    "first transaction, even before the model has learned any label.")
        return "Cold start: no transaction was decided before the model's first label."
    frauds = int(pipe.df.set_index("TX_ID")["TX_FRAUD"].reindex(cold["tx_id"]).sum())
    would_review = int((cold["score"].fillna(0.0) >= review).sum())
    first, last = (pd.Timestamp(t).strftime("%Y-%m-%d %H:%M") for t in
                   (cold["time"].min(), cold["time"].max()))
    return (
        f"Cold start: labels arrive {duration_text(pipe.delay)} after their transaction, so "
        f"the model learned its first label only after {last}. Until then its scores mean "
        f"nothing (an untrained model gives every transaction 0.5), so the "
        f"{len(cold):,} transactions from {first} to {last} were decided 'abstain': let "
        f"through as with no model, neither reviewed nor blocked (the pipeline's "
        f"warmup={pipe.warmup} label). Deciding on the untrained scores would have sent "
        f"{would_review:,} of them to review (the review threshold is {review:g}); "
        f"{frauds:,} of them were frauds, which no model could have known yet.")


def fraud_report(pipe: Any, results: Sequence[Mapping[str, Any]], stats: RunStats,
                 path: str | Path = "fraud_report.html", *,
                 title: str = "edalab: event-driven fraud detection",
                 start_train: str | None = None) -> Path:
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
    start_train
        The first day of the handbook's training week the `results` used (default: three
        weeks before the end of the data), for the note on the published numbers.

    Examples
    --------
    >>> import tempfile
    >>> from edalab.fraud.pipeline import FraudPipeline
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=20, terminals=40, days=25, seed=1)
    >>> pipe = FraudPipeline(metrics_every=200).feed(df)
    >>> stats = pipe.run()
    >>> rows = [{"model": "x", "auc_roc": 0.8, "average_precision": 0.5,
    ...          "card_precision_at_100": 0.2}]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     text = fraud_report(pipe, rows, stats, f"{tmp}/r.html").read_text()
    >>> text.count("plotly.js v"), text.count("Plotly.newPlot")  # plotly.js once, 5 figures
    (1, 5)
    >>> "delay=7 days," in text, "decided 'abstain'" in text, "at most 0." in text
    (True, True, True)
    """
    decisions = pipe.decisions()
    cold = set(decisions.loc[decisions["decision"] == "abstain", "tx_id"])
    scored = pipe.predictions().dropna(subset=["score"])
    scored = scored[~scored["tx_id"].isin(cold)]
    metrics = pipe.metrics()
    sections: list[tuple[str, str, Any]] = [
        ("Test week: the handbook's protocol", "", fraud_charts.model_comparison(results)),
        ("Prequential metrics over event time", "", fraud_charts.metrics_over_time(
            metrics, pipe.models()) if len(metrics) else None),
        ("Scores of genuine and fraudulent transactions",
         f"The {len(scored):,} transactions scored after the model's first label "
         f"({len(cold):,} scored before it, by an untrained model, are left out).",
         fraud_charts.score_distribution(scored, pipe.df, thresholds=pipe.thresholds)
         if len(scored) else None),
        ("Decisions per day", "", fraud_charts.decisions_over_time(decisions)),
        ("Throughput", _throughput_text(stats), fraud_charts.throughput_over_time(
            stats.timeline)),
    ]
    digits = f"{{:.{fraud_charts.DECIMALS}f}}".format
    table = fraud_charts.comparison_frame(results).to_html(float_format=digits)
    handlers = stats.to_frame().to_html(float_format="{:,.3f}".format)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
             "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"
             "p{max-width:900px;line-height:1.4}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(repr(pipe))}; model versions: {len(pipe.models())}</p>",
             f"<p>{html.escape(stats.summary())}</p>",
             "<h2>Test week</h2>", table,
             f"<p>{_text(published_note(pipe.df, start_train))}</p>",
             "<h2>Cold start</h2>", f"<p>{_text(cold_start_note(pipe))}</p>",
             "<h2>Handlers</h2>", handlers]
    first = True
    for i, (heading, text, fig) in enumerate(sections):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            parts.append(f"<p>{_text(text)}</p>")
        if fig is None:
            parts.append("<p>Nothing to draw: the run was too short for this chart.</p>")
            continue
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first,
                                 div_id=f"figure-{i}"))
        first = False
    parts.append("</body></html>")
    path = Path(path)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _throughput_text(stats: RunStats) -> str:
    text = ("Source events published per wall second, each rate over the interval it was "
            "measured in; a gap is a time when nothing was published (the run was draining).")
    timeline = stats.timeline
    if len(timeline) == 0 or not (timeline["lag"] > 0).any():
        text += (" The handlers' lag stayed 0 throughout (every handler kept up at every "
                 "sample), so it has no chart.")
    return text


def _text(text: str) -> str:
    return html.escape(text, quote=False)
