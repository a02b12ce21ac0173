"""Prequential (test-then-train) metrics as stream operators: each joins a label event to the
prediction made before it and emits ``metric`` events.

- `PrequentialMetrics`: any river metrics (ROC AUC, accuracy, F1, log loss, ...), plus
  `AveragePrecision`, which river does not have.
- `CardPrecisionAtK`: the *Fraud Detection Handbook*'s card precision top-k, one value a day,
  streaming; `card_precision_at_k` is the handbook's batch definition, for checking it.

river's `ROCAUC` approximates the curve with `n_thresholds` (10) thresholds, which is what
river's published numbers use; `river.metrics.RollingROCAUC(window_size=...)` is exact on its
window (a rolling AUC), as `AveragePrecision` is.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from river import metrics as river_metrics

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.ml.average_precision import AveragePrecision, average_precision
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin

__all__ = ["AveragePrecision", "CardPrecisionAtK", "PrequentialMetrics", "average_precision",
           "card_precision_at_k"]


class _Joiner(Operator, abstract=True):
    """The shared part of the metric operators: predictions waiting for their label (a
    `LabelJoin`, ``op.buffer``)."""

    def __init__(self, prediction_type: str, label_type: str, label_field: str,
                 label_join: str, buffer_size: int, source: str, name: str):
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        self.prediction_type = prediction_type
        self.label_type = label_type
        self.label_field = label_field
        self.label_join = label_join
        self.buffer_size = buffer_size
        self.source = source
        self.__name__ = name
        self.n = 0  # labels joined to a prediction
        self.model_version: int | None = None

    @property
    def unmatched(self) -> int:
        """Labels with no prediction waiting (never seen, evicted, or a second label)."""
        return self.buffer.unmatched

    @property
    def evicted(self) -> int:
        """Predictions dropped from the full buffer before their label came."""
        return self.buffer.evicted

    @property
    def stats(self) -> dict[str, int]:
        """Labels joined to a prediction, and the join's counters (pending, evicted,
        unmatched)."""
        return {"labels": self.n, **self.buffer.stats}

    def _metric(self, name: str, value: float, time: datetime, **extra: Any) -> Event:
        data = {"name": name, "value": float(value), "n": self.n,
                "model_version": self.model_version, **extra}
        suffix = f"day-{extra['day']}" if "day" in extra else str(self.n)
        return Event("metric", self.source, data, key=name, time=time,
                     id=f"metric-{self.__name__}-{name}-{suffix}")



class PrequentialMetrics(_Joiner):
    """River metrics updated with each label and the prediction made before it.

    On a ``prediction`` event it keeps the score (and the predicted label, when the prediction
    carries ``"label"``) under the prediction's ``"id"``; on a label event it updates every
    metric and, every `every` labels, emits one ``metric`` event per metric (time: the label's;
    key: the metric's name; data ``{"name", "value", "n", "model_version"}``). Counting labels,
    not event time, makes the emissions the same whatever the label delay; `values()` reads the
    metrics at any moment.

    Metrics are fed as river's `progressive_val_score` feeds them: those with
    ``requires_labels`` get the predicted label (the prediction's ``"label"``, else
    ``score > threshold``), the others the score, P(positive). A prediction without a score
    (a model with no probabilities yet) updates nothing, as in river.

    Parameters
    ----------
    metrics
        ``{name: river metric}``, or metrics (named by their class).
    every
        Emit the values every this many labels (None: never; read `values()`).
    prediction_type, label_type, label_field, label_join
        The events joined: predictions (by their ``"id"``) and labels (by `label_join`).
    threshold
        Decision threshold for label metrics when predictions carry no ``"label"``.
    buffer_size
        Most predictions waiting for a label (the oldest is dropped beyond it).
    forward_labels
        Return each label event too (after the metric events), for a stage downstream.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from river import metrics
    >>> from edalab import Event
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> op = PrequentialMetrics({"roc_auc": metrics.ROCAUC(), "accuracy": metrics.Accuracy()},
    ...                         every=2)
    >>> for i, (score, fraud) in enumerate([(0.9, 1), (0.2, 0)]):
    ...     _ = op.test(Event("prediction", "/m", {"id": i, "score": score, "model_version": 1},
    ...                       time=t))
    ...     out = op.test(Event("fraud.label", "/l", {"tx_id": i, "fraud": fraud}, time=t))
    >>> [(e.data["name"], e.data["value"], e.data["n"]) for e in out]
    [('roc_auc', 1.0, 2), ('accuracy', 1.0, 2)]
    """

    def __init__(self, metrics: Mapping[str, Any] | Iterable[Any], *, every: int | None = 1000,
                 prediction_type: str = "prediction", label_type: str = "fraud.label",
                 label_field: str = "fraud", label_join: str = "tx_id", threshold: float = 0.5,
                 buffer_size: int = 100_000, forward_labels: bool = False,
                 source: str = "/edalab/ml/metrics", name: str = "metrics"):
        super().__init__(prediction_type, label_type, label_field, label_join, buffer_size,
                         source, name)
        if isinstance(metrics, river_metrics.base.Metric):
            metrics = [metrics]
        if not isinstance(metrics, Mapping):
            metrics = {type(m).__name__: m for m in metrics}
        if not metrics:
            raise ValueError("metrics is empty")
        for label, m in metrics.items():
            if not isinstance(m, river_metrics.base.Metric):
                raise TypeError(f"metric {label!r} must be a river metric, got "
                                f"{type(m).__name__}")
        if every is not None and (isinstance(every, bool) or every < 1):
            raise ValueError(f"every must be None or an int >= 1, got {every!r}")
        self.metrics = dict(metrics)
        self.every = every
        self.threshold = threshold
        self.forward_labels = forward_labels
        self._feeds = [(m.update, bool(getattr(m, "requires_labels", False)))
                       for m in self.metrics.values()]

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:.4f}" for k, v in self.values().items())
        return f"PrequentialMetrics({values}, n={self.n})"

    def values(self) -> dict[str, float]:
        """The current value of every metric."""
        return {name: m.get() for name, m in self.metrics.items()}

    def snapshot(self, time: datetime | None = None) -> list[Event]:
        """One ``metric`` event per metric, now (time: `time`, else the wall clock)."""
        time = time or datetime.now(UTC)
        return [self._metric(name, value, time) for name, value in self.values().items()]

    def process(self, event: Event) -> list[Event]:
        if event.type == self.prediction_type:
            data = event.data
            try:
                held = (data["score"], data.get("label"), data.get("model_version"))
                self.buffer.hold(data["id"], held)
            except (KeyError, TypeError, AttributeError):
                raise ValueError(f"prediction {event.id!r}: data needs 'id' and 'score'") from None
            return []
        if event.type != self.label_type:
            return []
        held, y = self.buffer.label(event)
        if held is None:
            return [event] if self.forward_labels else []
        score, label, self.model_version = held
        self.n += 1
        if score is not None:
            if label is None:
                label = score > self.threshold
            for update, needs_label in self._feeds:
                update(y, label if needs_label else score)
        if self.every is None or self.n % self.every:
            return [event] if self.forward_labels else []
        out = self.snapshot(event.time)
        return out + [event] if self.forward_labels else out


class CardPrecisionAtK(_Joiner):
    """The handbook's card precision top-k, one ``metric`` event a day, as labels arrive.

    For each day, each card's highest score and whether any of its transactions that day was
    fraud; when the day's labels are all in, the k cards with the highest scores (ties: lower
    card id first) are the day's alerts, precision = frauds among them / k, and cards found
    compromised (a fraud in the top k) leave the later days' rankings. Exactly
    `card_precision_at_k` on the same predictions, streaming.

    Completeness is a watermark on label time: a label at time t says every transaction before
    ``t - delay`` is labelled, so day d closes at the first label with ``t - delay`` at or past
    the first transaction of a later day. `delay` must be the longest label delay (labels
    arriving later for a closed day are counted in `late` and ignored). `flush()` closes the
    days still open at the end of a stream. When labels stop coming, the predictions close the
    days instead: a day closes, with the labels it has, once a prediction opens a day that
    starts more than ``delay + lateness`` after the next day began (counted in `expired`),
    so the open days stay a few, whatever the labels do.

    Parameters
    ----------
    k
        Cards alerted per day.
    delay
        The longest label delay (anything `pandas.Timedelta` reads).
    card, day
        Fields of the prediction data naming the card (customer) and the day (an int); the
        classifier must pass them through (``passthrough=("customer_id", "day")``).
    positive
        The label value of a fraud.
    lateness
        How much later than `delay` a day's labels may still come before the predictions
        close it (a duration).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from edalab import Event
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> op = CardPrecisionAtK(k=1, delay="0s")
    >>> stream = [(0, "a", 0.9, 1), (0, "b", 0.4, 0), (1, "a", 0.8, 1), (1, "b", 0.7, 1)]
    >>> out = []
    >>> for i, (day, card, score, fraud) in enumerate(stream):
    ...     time = t + timedelta(days=day, hours=i)
    ...     out += op.test(Event("prediction", "/p", {"id": i, "score": score, "day": day,
    ...                                                "customer_id": card}, time=time))
    ...     out += op.test(Event("fraud.label", "/l", {"tx_id": i, "fraud": fraud}, time=time))
    >>> out += op.flush()
    >>> [(e.data["day"], e.data["value"]) for e in out]
    [(0, 1.0), (1, 1.0)]
    """

    def __init__(self, k: int = 100, *, delay: str | timedelta = "7D", card: str = "customer_id",
                 day: str = "day", positive: Any = 1, prediction_type: str = "prediction",
                 label_type: str = "fraud.label", label_field: str = "fraud",
                 label_join: str = "tx_id", buffer_size: int = 1_000_000,
                 forward_labels: bool = False, source: str = "/edalab/ml/metrics",
                 name: str = "card_precision", lateness: str | timedelta = "1D"):
        super().__init__(prediction_type, label_type, label_field, label_join, buffer_size,
                         source, name)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        self.k = k
        self.delay = parse_duration(delay, name="delay", allow_zero=True).to_pytimedelta()
        self.lateness = parse_duration(lateness, name="lateness",
                                       allow_zero=True).to_pytimedelta()
        self.expired = 0  # days closed by the predictions: their labels were overdue
        self.card = card
        self.day = day
        self.positive = positive
        self.forward_labels = forward_labels
        self.metric_name = f"card_precision@{k}"
        self.late = 0  # predictions or labels of a day already closed
        self.daily: dict[Any, float] = {}  # closed day -> precision
        self.detected: set = set()
        self._open: dict[Any, list] = {}  # day -> [first time, {card: max score}, fraud cards]
        self._last_time: datetime | None = None

    def __repr__(self) -> str:
        return (f"CardPrecisionAtK(k={self.k}, days={len(self.daily)}, "
                f"mean={self.mean():.4f}, open={list(self._open)})")

    def mean(self) -> float:
        """Mean precision over the closed days (the handbook's summary); NaN before any."""
        return float(np.mean(list(self.daily.values()))) if self.daily else float("nan")

    def values(self) -> dict[str, float]:
        return {self.metric_name: self.mean()}

    @property
    def stats(self) -> dict[str, int]:
        """Labels joined, the join's counters, days closed, still open, closed by the
        predictions (`expired`), and predictions or labels of a closed day (`late`)."""
        return {**super().stats, "days": len(self.daily), "open": len(self._open),
                "expired": self.expired, "late": self.late}

    def process(self, event: Event) -> list[Event]:
        if event.type == self.prediction_type:
            return self._on_prediction(event)
        if event.type != self.label_type:
            return []
        held, y = self.buffer.label(event)
        if held is not None:
            day, card = held
            self.n += 1
            state = self._open.get(day)
            if state is None:
                self.late += 1
            elif y == self.positive:
                state[2].add(card)
        self._last_time = event.time
        out = self._close_until(event.time - self.delay, event.time)
        if self.forward_labels:
            out.append(event)
        return out

    def _on_prediction(self, event: Event) -> list[Event]:
        data = event.data
        try:
            day, card, score = data[self.day], data[self.card], data["score"]
        except (KeyError, TypeError):
            raise ValueError(f"prediction {event.id!r}: data needs 'score', {self.day!r} and "
                             f"{self.card!r} (pass them through the classifier)") from None
        if day in self.daily:
            self.late += 1
            return []
        self.model_version = data.get("model_version", self.model_version)
        state = self._open.get(day)
        out = []
        if state is None:  # a new day: are older ones overdue? (checked once a day)
            state = self._open[day] = [event.time, {}, set()]
            out = self._close_until(event.time - self.delay - self.lateness, event.time)
            self.expired += len(out)
        if score is not None:
            scores = state[1]
            best = scores.get(card)
            if best is None or score > best:
                scores[card] = score
        self.buffer.hold(data["id"], (day, card))
        return out

    def _close_until(self, watermark: datetime, time: datetime) -> list[Event]:
        out = []
        while len(self._open) >= 2:
            first, second = list(self._open)[:2]
            if self._open[second][0] > watermark:
                break
            out.append(self._close(first, time))
        return out

    def flush(self, time: datetime | None = None) -> list[Event]:
        """Close every open day (the stream has ended: all labels are in), at `time` (in an
        `App`: its clock when the sources drain; else the last label's time)."""
        time = time or self._last_time or datetime.now(UTC)
        return [self._close(day, time) for day in list(self._open)]

    def _close(self, day: Any, time: datetime) -> Event:
        _, scores, frauds = self._open.pop(day)
        detected = self.detected
        ranked = heapq.nsmallest(self.k, ((-s, c) for c, s in scores.items()
                                          if c not in detected))
        found = [c for _, c in ranked if c in frauds]
        detected.update(found)
        precision = len(found) / self.k
        self.daily[day] = precision
        return self._metric(self.metric_name, precision, time, day=day)


def card_precision_at_k(frame: pd.DataFrame, k: int = 100, *, day: str = "day",
                        card: str = "customer", score: str = "score",
                        label: str = "label") -> pd.Series:
    """The handbook's card precision top-k, per day (its mean is the handbook's number).

    Per day in order: drop the cards detected on earlier days; per card, the highest score and
    the highest label; rank by score (ties: lower card id first; the handbook leaves ties to
    an unstable sort); precision = cards with a fraud among the top k / k; those cards are
    detected from now on.

    >>> frame = pd.DataFrame({"day": [0, 0, 1, 1], "customer": ["a", "b", "a", "b"],
    ...                       "score": [0.9, 0.4, 0.8, 0.7], "label": [1, 0, 1, 1]})
    >>> card_precision_at_k(frame, k=1).tolist()
    [1.0, 1.0]
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    missing = [c for c in (day, card, score, label) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
    detected: set = set()
    values = {}
    for d, rows in frame.groupby(day, sort=True):
        rows = rows[~rows[card].isin(detected)]
        per_card = rows.groupby(card)[[score, label]].max().reset_index()
        top = per_card.sort_values([score, card], ascending=[False, True]).head(k)
        found = top.loc[top[label] == 1, card].tolist()
        values[d] = len(found) / k
        detected.update(found)
    return pd.Series(values, name=f"card_precision@{k}", dtype=float).rename_axis(day)
