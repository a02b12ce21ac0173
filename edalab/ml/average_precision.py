"""Average precision, which river does not have: `average_precision` on arrays (as
scikit-learn computes it) and `AveragePrecision`, the same over a window as a river metric
(for `edalab.ml.PrequentialMetrics`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from river import metrics as river_metrics

__all__ = ["AveragePrecision", "average_precision"]


def average_precision(y_true: Iterable, scores: Iterable, positive: Any = True) -> float:
    """Average precision, as scikit-learn defines it: the precision at each distinct score
    threshold, weighted by the recall it adds (no interpolation). 0.0 without positives.

    >>> round(average_precision([0, 1, 0, 1], [0.1, 0.9, 0.8, 0.3], positive=1), 4)
    0.8333
    """
    y = np.fromiter((v == positive for v in y_true), dtype=bool)
    s = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores differ in length: {y.size} and {s.size}")
    if not y.any():
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(np.r_[0, tp]) / tp[-1]
    return float(np.sum(recall_gain * precision))


class AveragePrecision(river_metrics.base.BinaryMetric):
    """Average precision over all labels so far, or over the last `window_size`.

    Written here because river has no average precision (AP), the fraud literature's headline
    metric: `river.metrics.RollingPRAUC` is an interpolated area under the precision-recall
    curve, which differs from AP. This keeps the scores and labels (all of them, or a window)
    and computes AP exactly when read, in O(n log n): read it every few thousand labels, or
    give a window.

    >>> metric = AveragePrecision(window_size=3)
    >>> for y, p in [(True, 0.9), (False, 0.8), (True, 0.3), (False, 0.1)]:
    ...     metric.update(y, p)
    >>> metric
    AveragePrecision: 50.00%
    """

    def __init__(self, window_size: int | None = None, pos_val: Any = True):
        if window_size is not None and (isinstance(window_size, bool) or window_size < 1):
            raise ValueError(f"window_size must be None or >= 1, got {window_size!r}")
        self.window_size = window_size
        self.pos_val = pos_val
        self._labels: deque = deque(maxlen=window_size)
        self._scores: deque = deque(maxlen=window_size)

    # unweighted (river's `w` is not taken): the window holds labels and scores only
    def update(self, y_true: Any, y_pred: Any) -> None:  # type: ignore[override]
        self._labels.append(y_true == self.pos_val)
        self._scores.append(y_pred.get(True, 0.0) if isinstance(y_pred, dict) else y_pred)

    def revert(self, y_true: Any, y_pred: Any) -> None:  # type: ignore[override]
        raise NotImplementedError("AveragePrecision keeps a window; it cannot revert")

    def get(self) -> float:
        return average_precision(self._labels, np.fromiter(self._scores, dtype=float))

    @property
    def requires_labels(self) -> bool:
        return False

    @property
    def works_with_weights(self) -> bool:
        return False
