"""The work every style of `edalab bench rr` does, and its load: card transactions scored by
the handbook's 15 features (`FraudFeatures`) and a logistic regression trained once on the
first days; the slow-scorer fault; the open-loop send schedule."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import pandas as pd
from river import compose, linear_model, preprocessing

from edalab.events import Event
from edalab.fraud.features import FraudFeatures
from edalab.streams.transactions import transaction_events, transactions

__all__ = ["Scorer", "in_fault", "schedule", "scoring_events"]

TRAIN_DAYS = 2


def _frame(seed: int) -> pd.DataFrame:
    return transactions(customers=5000, terminals=10000, days=60, seed=seed)


def scoring_events(seed: int = 0, n: int | None = None) -> list[Event]:
    """The first `n` transactions after the training days, in time order (what the styles
    score)."""
    df = _frame(seed)
    df = df[df["TX_TIME_DAYS"] >= TRAIN_DAYS]
    return list(transaction_events(df if n is None else df.iloc[:n]))


class Scorer:
    """Features and model of one scoring service, trained on the first `TRAIN_DAYS` days.

    A transaction marked ``"slowed": True`` (the slowed-dependency fault, injected with the
    request as a fault-injection header would be) takes at least 10x as long: the call sleeps
    9x what it computed for, waiting as on a slow dependency (the operating system's sleep
    granularity makes a sub-millisecond call somewhat slower still).
    """

    def __init__(self, seed: int = 0):
        self.features = FraudFeatures()
        self.model = compose.Pipeline(preprocessing.StandardScaler(),
                                      linear_model.LogisticRegression())
        df = _frame(seed)
        for e in transaction_events(df[df["TX_TIME_DAYS"] < TRAIN_DAYS]):
            x = self.features.process(e)[0].data["x"]
            self.model.learn_one(x, bool(e.data["TX_FRAUD"]))

    def score(self, data: dict) -> float:
        """The fraud probability of one transaction (its data, as `transaction_events` has
        it); the features remember it."""
        started = time.perf_counter()
        when = datetime.fromisoformat(data["TX_DATETIME"])
        event = Event("card.transaction", "/rr", data, key=str(data["CUSTOMER_ID"]),
                      time=when, id=f"tx-{data['TX_ID']}")
        x = self.features.process(event)[0].data["x"]
        p = float(self.model.predict_proba_one(x).get(True, 0.0))
        if data.get("slowed"):
            time.sleep(9 * (time.perf_counter() - started))
        return p


def schedule(load: float, duration: float, fault: str) -> list[float]:
    """Send offsets, seconds from the start, of an open-loop load of `load` per second;
    ``fault="burst"``: 5x the load in the middle third of the run (the middle third is
    where ``fault="slow"`` slows the scorer).

    >>> len(schedule(10, 3, "none")), len(schedule(10, 3, "burst"))
    (30, 70)
    """
    out: list[float] = []
    thirds = [0.0, duration / 3, 2 * duration / 3, duration]
    for i, (begin, end) in enumerate(itertools.pairwise(thirds)):
        rate = load * (5 if fault == "burst" and i == 1 else 1)
        n = round((end - begin) * rate)
        out += [begin + k / rate for k in range(n)]
    return out


def in_fault(offset: float, duration: float) -> bool:
    """Whether a send at `offset` falls in the fault's span, the middle third of the run."""
    return duration / 3 <= offset < 2 * duration / 3
