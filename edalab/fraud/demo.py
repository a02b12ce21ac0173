"""The fraud demo: the event-driven pipeline beside the handbook's batch baseline.

`FraudDemo` simulates card transactions (the *Fraud Detection Handbook*'s design), runs them and
their fraud labels, a week late, through `FraudPipeline`, scores the test week of the handbook's
protocol for the pipeline and for the handbook's batch logistic regression, and writes the HTML
report. ``edalab demo fraud`` (`edalab.cli.demo`) parses its options and prints what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from edalab.fraud.handbook import batch_baseline
from edalab.fraud.pipeline import FraudPipeline
from edalab.fraud.report import fraud_report
from edalab.runtime.stats import RunStats
from edalab.streams.transactions import transactions

__all__ = ["METRICS", "MIN_DAYS", "FraudDemo"]

METRICS = ("auc_roc", "average_precision", "card_precision_at_100")
#: A training week, a delay week and a test week, after at least a day of history.
MIN_DAYS = 22
_FIRST_DAY = pd.Timestamp("2018-04-01")  # the simulator's default start


@dataclass
class FraudDemo:
    """The pipeline on `days` of simulated transactions of `customers` (2 terminals each).

    The handbook's split ends with the simulation: three weeks from ``days - 21`` (training,
    delay, test). `run` runs the pipeline, `comparison` scores the test week beside the batch
    baseline, `write_report` writes the HTML report of both.
    """

    customers: int = 500
    days: int = 60
    seed: int = 5
    model: str = "retrain"
    review: float = 0.5
    block: float = 0.9
    df: pd.DataFrame = field(init=False, repr=False)
    pipeline: FraudPipeline = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.days < MIN_DAYS:
            raise ValueError(f"days must be at least {MIN_DAYS} (a training week, a delay "
                             f"week, a test week), got {self.days}")
        self.df = transactions(self.customers, 2 * self.customers, self.days, seed=self.seed)
        self.pipeline = FraudPipeline(model=self.model, review=self.review, block=self.block,
                                      seed=self.seed).feed(self.df)

    @property
    def train_start(self) -> pd.Timestamp:
        """The first day of the handbook's training week."""
        return _FIRST_DAY + pd.Timedelta(days=self.days - 21)

    @property
    def test_start(self) -> pd.Timestamp:
        """The first day of the test week (after the training and delay weeks)."""
        return self.train_start + pd.Timedelta(days=14)

    def run(self, clock: str = "wall", progress: bool = False) -> RunStats:
        """Run the pipeline to the end of the stream; its run statistics."""
        return self.pipeline.run(clock=clock, progress=progress)

    def comparison(self) -> list[dict[str, Any]]:
        """The test-week rows (model, kind, `METRICS`): the batch baseline, then the pipeline."""
        split: dict[str, Any] = {"start_train": str(self.train_start.date())}
        batch = batch_baseline(self.df, **split)
        ours = self.pipeline.test_week(**split)
        return [{"model": "batch LR (handbook)", "kind": "batch",
                 **{m: batch[m] for m in METRICS}},
                {"model": f"event-driven {self.model}", "kind": "event-driven",
                 **{m: ours[m] for m in METRICS}}]

    def write_report(self, rows: list[dict[str, Any]], stats: RunStats,
                     path: str | Path) -> Path:
        """Write the HTML report of the run (`rows` from `comparison`); returns its path."""
        return fraud_report(self.pipeline, rows, stats, path,
                            start_train=str(self.train_start.date()))
