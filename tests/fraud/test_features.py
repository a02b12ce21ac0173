"""The handbook's features: vectorised = the handbook's pandas code = the online operator."""

from __future__ import annotations

import heapq
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from edalab.fraud.features import FEATURES, WINDOWS, FraudFeatures, handbook_features
from edalab.streams import label_events, transaction_events, transactions


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return transactions(customers=100, terminals=200, days=45, seed=11)


def handbook_pandas(df: pd.DataFrame, delay: int = 7) -> pd.DataFrame:
    """The handbook's own code (chapter 3.4), pandas time-based rolling windows per key."""
    parts = []
    for _, g in df.groupby("CUSTOMER_ID"):
        g = g.sort_values("TX_DATETIME").set_index("TX_DATETIME")
        out = pd.DataFrame(index=g["TX_ID"].to_numpy())
        for n in WINDOWS:
            total = g["TX_AMOUNT"].rolling(f"{n}D").sum().to_numpy()
            count = g["TX_AMOUNT"].rolling(f"{n}D").count().to_numpy()
            out[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = count
            out[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = total / count
        parts.append(out)
    customers = pd.concat(parts)
    parts = []
    for _, g in df.groupby("TERMINAL_ID"):
        g = g.sort_values("TX_DATETIME").set_index("TX_DATETIME")
        frauds_d = g["TX_FRAUD"].rolling(f"{delay}D").sum().to_numpy()
        count_d = g["TX_FRAUD"].rolling(f"{delay}D").count().to_numpy()
        out = pd.DataFrame(index=g["TX_ID"].to_numpy())
        for n in WINDOWS:
            frauds = g["TX_FRAUD"].rolling(f"{delay + n}D").sum().to_numpy() - frauds_d
            count = g["TX_FRAUD"].rolling(f"{delay + n}D").count().to_numpy() - count_d
            out[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = count
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = np.nan_to_num(frauds / count)
        parts.append(out)
    return pd.concat([customers, pd.concat(parts)], axis=1).sort_index()


def online(df: pd.DataFrame, delay: str = "7D", label_delay: str = "7D") -> pd.DataFrame:
    op = FraudFeatures(delay)
    stream = heapq.merge(label_events(df, delay=label_delay), transaction_events(df),
                         key=lambda e: e.time)
    rows = {}
    for event in stream:
        out = op(event)
        if out.type == "fraud.features":
            rows[out.data["tx_id"]] = out.data["x"]
        else:
            assert out is event  # labels pass through unchanged
    return pd.DataFrame.from_dict(rows, orient="index")[FEATURES].sort_index()


def test_vectorised_features_equal_the_handbooks_pandas_code(df):
    mine = handbook_features(df).set_index(df["TX_ID"].to_numpy()).sort_index()
    reference = handbook_pandas(df)
    assert list(mine.columns) == FEATURES
    pd.testing.assert_frame_equal(mine[reference.columns], reference, check_exact=False,
                                  rtol=1e-9, check_dtype=False)
    assert (mine["TX_DURING_NIGHT"] == (df["TX_DATETIME"].dt.hour <= 6)).all()


def test_online_features_equal_the_vectorised_ones(df):
    batch = handbook_features(df).set_index(df["TX_ID"].to_numpy()).sort_index()
    stream = online(df)
    counts = [c for c in FEATURES if "AVG_AMOUNT" not in c]
    # Counts, risks, flags: exactly. Mean amounts: running sums vs cumulative sums differ in
    # float rounding only.
    pd.testing.assert_frame_equal(stream[counts], batch[counts], check_exact=True)
    pd.testing.assert_frame_equal(stream, batch, check_exact=False, rtol=1e-9, atol=0)


def test_terminal_risk_only_uses_labels_that_have_arrived(df):
    late = online(df, label_delay="10D")  # labels three days later than the windows assume
    exact = online(df)
    risk = [f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW" for n in WINDOWS]
    assert (late[risk] <= exact[risk]).all().all()
    assert (late[risk] < exact[risk]).any().all()
    early = online(df, label_delay="1D")  # known sooner, still counted only once D old
    pd.testing.assert_frame_equal(early, exact)


def test_without_labels_the_terminal_windows_stay_empty(df):
    op = FraudFeatures()
    xs = [op(e).data["x"] for e in transaction_events(df.head(2000))]
    assert all(x["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 0 == x["TERMINAL_ID_RISK_30DAY_WINDOW"]
               for x in xs)


@pytest.mark.parametrize("change, message", [
    ({"TX_AMOUNT": "12.5"}, "TX_AMOUNT of tx-0 must be a finite number, got '12.5'"),
    ({"TX_AMOUNT": float("nan")}, "TX_AMOUNT of tx-0 must be a finite number, got nan"),
    ({"TERMINAL_ID": None}, r"transaction tx-0 lacks \['TERMINAL_ID'\]"),
])
def test_a_bad_transaction_raises_and_leaves_the_state_unchanged(df, change, message):
    op = FraudFeatures()
    first = next(transaction_events(df))
    with pytest.raises(ValueError, match=message):
        op(first.replace(data={**first.data, **change}, id=first.id))
    assert op(first).data["x"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0


def test_other_event_types_are_rejected(df):
    first = next(transaction_events(df))
    with pytest.raises(ValueError, match="unexpected event type 'card.refund'"):
        FraudFeatures()(first.replace(type="card.refund"))


def test_a_label_delay_is_a_duration_or_days():
    assert FraudFeatures(7).delay == FraudFeatures("7D").delay == timedelta(days=7).total_seconds()
    with pytest.raises(ValueError, match="delay must be a duration"):
        FraudFeatures("soon")


def test_transactions_whose_labels_never_come_expire_and_are_counted(df):
    op = FraudFeatures("7D", lateness="1D")
    events = list(transaction_events(df))
    for e in events:
        op(e)
    retention = timedelta(days=7 + 30 + 1)
    last = events[-1].time
    recent = sum(e.time > last - retention * 9 / 8 for e in events)
    stats = op.stats
    assert stats["pending_expired"] > 0
    assert stats["pending"] + stats["pending_expired"] == len(events)
    assert stats["pending"] <= recent  # only transactions of the last retention (+ a sweep)
    assert all(t > last.timestamp() - retention.total_seconds() * 9 / 8
               for t, _ in op._pending.values())


def test_a_numpy_integer_delay_is_days_like_an_int():
    assert FraudFeatures(np.int64(7)).delay == FraudFeatures(7).delay


def test_a_negative_lateness_is_refused():
    with pytest.raises(ValueError, match=r"^lateness must be a duration >= 0, got '-1D'$"):
        FraudFeatures(lateness="-1D")
