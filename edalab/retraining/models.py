"""The retraining workflow's data and models: a labelled stream with concept drift (river's
SINE1 and its reversal), the champion/challenger model, its training, evaluation and the
promotion decision."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from river import linear_model, metrics, optim, preprocessing
from river.datasets import synth

from edalab.events import Event

__all__ = ["T0", "decide", "drifting_stream", "evaluate", "logistic_model", "sample_xy",
           "train_challenger", "train_champion"]

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def drifting_stream(n: int = 6000, *, drifts: tuple[int, ...] = (2000, 4000), width: int = 50,
                    every: float = 1.0, start: datetime = T0, seed: int = 0) -> list[Event]:
    """A labelled stream whose concept flips at each of `drifts` (river's SINE1 and its
    reversal), as ``sample.labelled`` events one every `every` seconds of event time.

    >>> e = drifting_stream(10, drifts=(5,), seed=0)[0]
    >>> e.type, sorted(e.data["x"]), e.data["y"] in (0, 1)
    ('sample.labelled', ['x0', 'x1'], True)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if list(drifts) != sorted(drifts) or any(not 0 < d < n for d in drifts):
        raise ValueError(f"drifts must be increasing positions in (0, {n}), got {drifts}")
    stream: synth.Sine | synth.ConceptDriftStream = synth.Sine(
        classification_function=len(drifts) % 2, seed=seed + len(drifts))
    for k in range(len(drifts) - 1, -1, -1):  # nest: concept k until drifts[k], then the next
        before = synth.Sine(classification_function=k % 2, seed=seed + k)
        stream = synth.ConceptDriftStream(before, stream, position=drifts[k] - (drifts[k - 1]
                                          if k else 0), width=width, seed=seed + k)
    step = timedelta(seconds=every)
    return [Event("sample.labelled", "/stream", {"i": i, "x": {f"x{j}": v for j, v in x.items()},
                                                  "y": int(y)},
                  key="stream", time=start + i * step, id=f"sample-{i}")
            for i, (x, y) in enumerate(stream.take(n))]


def logistic_model(lr: float = 0.1):
    """The model of both champion and challenger: ``StandardScaler | LogisticRegression``."""
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(
        optimizer=optim.SGD(lr))


def sample_xy(event_or_row: Any) -> tuple[dict, int]:
    """The features and label of a ``sample.labelled`` event or of its data row."""
    data = event_or_row.data if isinstance(event_or_row, Event) else event_or_row
    return data["x"], data["y"]


def train_champion(events: list[Event]):
    """The first champion: `logistic_model` trained on `events` in one pass."""
    model = logistic_model()
    for e in events:
        model.learn_one(*sample_xy(e))
    return model


def train_challenger(rows: list[dict], *, epochs: int = 2, seed: int = 0):
    """A fresh `logistic_model` trained on `rows` (``{"x", "y"}`` dicts) for `epochs` seeded
    shuffled passes."""
    if not rows:
        raise ValueError("cannot train a challenger on no rows")
    rng = random.Random(seed)
    model = logistic_model()
    order = list(rows)
    for _ in range(epochs):
        rng.shuffle(order)
        for row in order:
            model.learn_one(*sample_xy(row))
    return model


def evaluate(champion, challenger, holdout: list[dict]) -> dict[str, float]:
    """Accuracy of both models on `holdout` (river's `metrics.Accuracy`)."""
    if not holdout:
        raise ValueError("cannot evaluate on an empty holdout")
    scores = {"champion": metrics.Accuracy(), "challenger": metrics.Accuracy()}
    for row in holdout:
        x, y = sample_xy(row)
        scores["champion"].update(y, champion.predict_one(x))
        scores["challenger"].update(y, challenger.predict_one(x))
    return {name: round(m.get(), 4) for name, m in scores.items()}


def decide(scores: dict[str, float], margin: float = 0.01) -> str:
    """``"promote"`` when the challenger beats the champion by more than `margin`, else
    ``"rollback"``.

    >>> decide({"champion": 0.52, "challenger": 0.91}), decide({"champion": 0.9,
    ...                                                          "challenger": 0.9})
    ('promote', 'rollback')
    """
    return "promote" if scores["challenger"] - scores["champion"] > margin else "rollback"
