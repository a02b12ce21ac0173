"""The *Fraud Detection Handbook*'s evaluation protocol and its batch baseline.

Chapter 3.4 of Le Borgne et al. trains on one week, waits out the label delay D, and tests on
the week after (``get_train_test_set``). Cards known to be compromised are taken out of the test
week: the customers defrauded in the training week, then, day by day, those whose frauds became
known D days earlier. A model is judged by three numbers over the test week: the area under the
ROC curve, the average precision and the card precision in the top 100 cards of each day
(CP@100, what a team of investigators checking 100 cards a day would find).

`batch_baseline` is the handbook's logistic regression: features standard-scaled on the training
week, a scikit-learn model fitted once, the test week scored. The book reports 0.871 AUC,
0.606 AP and 0.291 CP@100 for it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from edalab.fraud.features import FEATURES, handbook_features

__all__ = ["HANDBOOK_LR", "batch_baseline", "handbook_metrics", "train_test_split"]

#: The handbook's published test-week results of its logistic regression (chapter 3.4).
HANDBOOK_LR = {"auc_roc": 0.871, "average_precision": 0.606, "card_precision_at_100": 0.291}


def train_test_split(df: pd.DataFrame, features: pd.DataFrame | None = None, *,
                     start_train: str = "2018-07-25", delta_train: int = 7,
                     delta_delay: int = 7, delta_test: int = 7
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The handbook's training week and test week (``get_train_test_set``).

    Parameters
    ----------
    df
        Transactions as `edalab.streams.transactions` returns (``TX_DATETIME``, ``TX_TIME_DAYS``,
        ``CUSTOMER_ID``, ``TX_FRAUD``, ...).
    features
        The features of `df` (same index), by default ``handbook_features(df, delta_delay)``;
        their columns are joined to both sets.
    start_train
        First day of the training week.
    delta_train, delta_delay, delta_test
        Days of training, of label delay between the two, and of test.

    Returns
    -------
    (train, test) : tuple of pandas.DataFrame
        Rows of `df` with the feature columns, each sorted by ``TX_ID``. `test` holds the
        ``delta_test`` days starting ``delta_train + delta_delay`` days after the first training
        day, minus the transactions of customers known to be compromised on their day.

    Examples
    --------
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=200, terminals=400, days=40, seed=3)
    >>> train, test = train_test_split(df, start_train="2018-04-15")
    >>> len(train), len(test), int(train.TX_FRAUD.sum()), int(test.TX_FRAUD.sum())
    (2508, 1219, 417, 114)
    >>> test.TX_TIME_DAYS.min() - train.TX_TIME_DAYS.min()
    np.int64(14)
    """
    if features is None:
        features = handbook_features(df, delay=delta_delay)
    data = df.join(features[[c for c in features.columns if c not in df.columns]])
    start = pd.Timestamp(start_train)
    when = data["TX_DATETIME"]
    train = data[(when >= start) & (when < start + pd.Timedelta(days=delta_train))]
    if train.empty:
        raise ValueError(f"train_test_split: no transactions in the {delta_train} days from "
                         f"{start_train}")
    day0 = int(train["TX_TIME_DAYS"].min())
    frauds = data.loc[data["TX_FRAUD"] == 1, ["TX_TIME_DAYS", "CUSTOMER_ID"]]
    known = set(train.loc[train["TX_FRAUD"] == 1, "CUSTOMER_ID"])
    parts = []
    for day in range(delta_test):
        # The frauds of day (test day - delay) become known on the test day.
        known |= set(frauds.loc[frauds["TX_TIME_DAYS"] == day0 + delta_train + day - 1,
                                "CUSTOMER_ID"])
        today = data[data["TX_TIME_DAYS"] == day0 + delta_train + delta_delay + day]
        parts.append(today[~today["CUSTOMER_ID"].isin(known)])
    test = pd.concat(parts)
    return train.sort_values("TX_ID"), test.sort_values("TX_ID")


def handbook_metrics(test: pd.DataFrame, scores: Any, *, k: int = 100) -> dict[str, float]:
    """The handbook's three test-week metrics of `scores` (one per row of `test`).

    Parameters
    ----------
    test
        The test transactions (``TX_FRAUD``, ``CUSTOMER_ID``, ``TX_TIME_DAYS``).
    scores
        A fraud score per row, higher is more suspicious.
    k
        Cards checked per day for the card precision.

    Returns
    -------
    dict
        ``auc_roc``, ``average_precision`` (scikit-learn) and ``card_precision_at_<k>`` (the
        handbook's: per day, a card's score is its highest, cards already found on earlier days
        are left out, precision of the top `k` cards, averaged over the days).
    """
    from edalab.ml.metrics import card_precision_at_k

    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(test),):
        raise ValueError(f"handbook_metrics: {scores.shape[0] if scores.ndim else 0} scores "
                         f"for {len(test)} test transactions")
    if not np.isfinite(scores).all():
        raise ValueError("handbook_metrics: scores hold NaN or infinite values")
    y = test["TX_FRAUD"].to_numpy()
    return {
        "auc_roc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        f"card_precision_at_{k}": float(card_precision_at_k(
            pd.DataFrame({"day": test["TX_TIME_DAYS"].to_numpy(), "customer":
                          test["CUSTOMER_ID"].to_numpy(), "score": scores, "label": y}),
            k=k).mean()),
    }


def _estimator(model: Any, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "lr":  # the handbook's: LogisticRegression(random_state=0) on scaled features
        return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))
    if model == "rf":  # a random forest, batch headroom over the LR
        return make_pipeline(StandardScaler(), RandomForestClassifier(
            n_estimators=100, max_depth=20, random_state=seed, n_jobs=1))
    if isinstance(model, str):
        raise ValueError(f"batch_baseline: model must be 'lr', 'rf' or a scikit-learn "
                         f"classifier, got {model!r}")
    return model


def batch_baseline(df: pd.DataFrame, features: pd.DataFrame | None = None, *,
                   model: Any = "lr", seed: int = 0, **split: Any) -> dict[str, Any]:
    """A scikit-learn model trained the handbook's way, and its test-week metrics.

    Parameters
    ----------
    df, features
        As for `train_test_split`.
    model
        ``"lr"`` (standard scaling then ``LogisticRegression``, the handbook's baseline),
        ``"rf"`` (a random forest: 100 trees of depth at most 20) or any scikit-learn classifier
        with ``predict_proba``.
    seed
        ``random_state`` of the named models.
    **split
        Passed to `train_test_split` (``start_train``, ``delta_train``, ...).

    Returns
    -------
    dict
        ``model``, ``kind`` (``"batch"``), the three `handbook_metrics`, ``learn_per_s``
        (training transactions per second of fitting), ``n_train``, ``n_test`` and
        ``scores`` (a Series of test scores indexed by ``TX_ID``).

    Examples
    --------
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=300, terminals=600, days=40, seed=3)
    >>> result = batch_baseline(df, start_train="2018-04-15")
    >>> result["n_train"], result["n_test"], round(result["auc_roc"], 3)
    (4221, 2457, 0.808)
    """
    train, test = train_test_split(df, features, **split)
    estimator = _estimator(model, seed)
    started = time.perf_counter()
    estimator.fit(train[FEATURES].to_numpy(), train["TX_FRAUD"].to_numpy())
    fit_seconds = time.perf_counter() - started
    scores = estimator.predict_proba(test[FEATURES].to_numpy())[:, 1]
    name = model if isinstance(model, str) else type(model).__name__
    return {
        "model": f"batch {name}", "kind": "batch", **handbook_metrics(test, scores),
        "learn_per_s": len(train) / fit_seconds if fit_seconds > 0 else float("inf"),
        "n_train": len(train), "n_test": len(test),
        "scores": pd.Series(scores, index=test["TX_ID"].to_numpy(), name="score"),
    }
