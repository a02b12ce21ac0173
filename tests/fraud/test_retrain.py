"""PeriodicRetrainer: what it keeps while labels are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from river import linear_model

from edalab import Event
from edalab.fraud.features import FEATURES
from edalab.fraud.retrain import PeriodicRetrainer
from edalab.ml.classifier import OnlineClassifier

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_predictions_whose_labels_never_come_expire_after_a_window_and_are_counted():
    retrainer = PeriodicRetrainer(OnlineClassifier(linear_model.LogisticRegression()),
                                  window="28D", holdout="7D")
    x = dict.fromkeys(FEATURES, 1.0)
    n = 100 * 24  # 100 days, one transaction an hour, no label ever
    for i in range(n):
        retrainer(Event("fraud.features", "/f", {"tx_id": i, "x": x},
                        time=T0 + timedelta(hours=i)))
    stats = retrainer.stats
    assert stats["pending"] + stats["pending_expired"] == n
    assert 28 * 24 <= stats["pending"] <= 28 * 24 * 9 / 8  # a window, plus a sweep at most
    assert stats["labelled"] == stats["retrains"] == 0


def test_retraining_every_zero_is_refused():
    with pytest.raises(ValueError, match=r"^every must be a duration > 0, got '0D'$"):
        PeriodicRetrainer(OnlineClassifier(linear_model.LogisticRegression()), every="0D")
