from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from river import metrics
from sklearn.metrics import average_precision_score

from edalab import App, Event
from edalab.ml.metrics import (
    AveragePrecision,
    CardPrecisionAtK,
    PrequentialMetrics,
    average_precision,
    card_precision_at_k,
)
from edalab.streams import label_events, transactions

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def prediction(i: int, score: float, version: int = 1, **data) -> Event:
    return Event("prediction", "/test", {"id": i, "score": score, "model_version": version,
                                         **data}, time=T0 + timedelta(seconds=i), id=f"p{i}")


def label(i: int, fraud, time: datetime | None = None) -> Event:
    return Event("fraud.label", "/test", {"tx_id": i, "fraud": fraud},
                 time=time or T0 + timedelta(seconds=i), id=f"l{i}")


def scored(n: int, seed: int, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    s = rng.random(n) * 0.7 + y * 0.3
    return y, (np.round(s, 1) if ties else s)


@pytest.mark.parametrize("ties", [False, True])
def test_average_precision_is_scikit_learns(ties):
    y, s = scored(500, seed=1, ties=ties)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_windowed_average_precision_scores_only_the_last_labels():
    y, s = scored(300, seed=2)
    metric = AveragePrecision(window_size=100)
    for yi, si in zip(y.tolist(), s.tolist(), strict=True):
        metric.update(yi, si)
    assert metric.get() == pytest.approx(average_precision_score(y[-100:], s[-100:]), abs=1e-12)


def test_prequential_metrics_equal_river_metrics_updated_directly():
    y, s = scored(400, seed=3)
    op = PrequentialMetrics({"auc": metrics.ROCAUC(), "f1": metrics.F1(),
                             "ap": AveragePrecision()}, every=None)
    auc, f1 = metrics.ROCAUC(), metrics.F1()
    for i, (yi, si) in enumerate(zip(y.tolist(), s.tolist(), strict=True)):
        op(prediction(i, si))
        op(label(i, int(yi)))
        auc.update(int(yi), si)
        f1.update(int(yi), si > 0.5)
    assert op.values() == {"auc": auc.get(), "f1": f1.get(),
                           "ap": pytest.approx(average_precision_score(y, s), abs=1e-12)}


def test_metric_events_every_n_labels_carry_name_n_and_model_version():
    op = PrequentialMetrics({"acc": metrics.Accuracy()}, every=2)
    out = []
    for i, (score, fraud) in enumerate([(0.9, 1), (0.8, 0), (0.1, 0), (0.2, 1)]):
        op(prediction(i, score, version=1 + i // 2))
        out += op.test(label(i, fraud))
    assert [(e.type, e.key, e.time) for e in out] == [("metric", "acc", label(1, 0).time),
                                                      ("metric", "acc", label(3, 0).time)]
    assert [e.data for e in out] == [
        {"name": "acc", "value": 0.5, "n": 2, "model_version": 1},
        {"name": "acc", "value": 0.5, "n": 4, "model_version": 2}]


def test_labels_without_a_prediction_are_counted_not_scored():
    op = PrequentialMetrics([metrics.Accuracy()], every=1)
    assert op(label(5, 1)) is None
    assert (op.unmatched, op.n) == (1, 0)


def test_prediction_without_an_id_raises_value_error():
    bad = Event("prediction", "/t", {"score": 0.5}, id="p-bad", time=T0)
    with pytest.raises(ValueError, match="p-bad"):
        PrequentialMetrics([metrics.Accuracy()])(bad)


def handbook_card_precision(frame: pd.DataFrame, k: int) -> list[float]:
    """The handbook's code (chapter 4), transcribed literally."""
    detected: list = []
    values = []
    for day in sorted(frame["day"].unique()):
        df_day = frame[frame["day"] == day][["score", "customer", "label"]]
        df_day = df_day[~df_day.customer.isin(detected)]
        df_day = df_day.groupby("customer").max().sort_values(by="score", ascending=False)
        top = df_day.reset_index(drop=False).head(k)
        found = list(top[top.label == 1].customer)
        values.append(len(found) / k)
        detected.extend(found)
    return values


@pytest.fixture(scope="module")
def scored_transactions() -> pd.DataFrame:
    df = transactions(customers=150, terminals=300, days=25, seed=4)
    rng = np.random.default_rng(4)
    df["score"] = rng.random(len(df)) * 0.6 + df["TX_FRAUD"] * rng.random(len(df)) * 0.5
    return df


def as_frame(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"day": df["TX_TIME_DAYS"], "customer": df["CUSTOMER_ID"],
                         "score": df["score"], "label": df["TX_FRAUD"]})


def test_batch_card_precision_is_the_handbooks(scored_transactions):
    frame = as_frame(scored_transactions)
    assert card_precision_at_k(frame, k=10).tolist() == handbook_card_precision(frame, k=10)


@pytest.mark.parametrize("delay", ["0s", "3D"])
def test_streaming_card_precision_equals_the_batch_function_day_by_day(scored_transactions,
                                                                       delay):
    df = scored_transactions
    predictions = [
        Event("prediction", "/test", {"id": tx, "score": s, "customer_id": c, "day": d},
              time=t.tz_localize("UTC"), id=f"prediction-{tx}")
        for tx, s, c, d, t in zip(df["TX_ID"], df["score"], df["CUSTOMER_ID"],
                                  df["TX_TIME_DAYS"], df["TX_DATETIME"], strict=True)]
    app = App()
    op = CardPrecisionAtK(k=10, delay=delay)
    app.handler("scored", output="metrics")(op)
    app.source("scored", predictions)
    app.source("scored", label_events(df, delay=delay))
    app.run()
    streamed = {r.event.data["day"]: r.event.data["value"] for r in app.broker.read("metrics")}
    batch = card_precision_at_k(as_frame(df), k=10)
    assert streamed == batch.to_dict()  # the last day closes at the App's end-of-stream flush
    assert len(app.broker.read("metrics")) == len(batch) and op.flush() == []
    assert op.mean() == pytest.approx(batch.mean()) and op.late == 0


def test_a_day_closes_only_when_label_time_minus_delay_passes_a_later_day():
    op = CardPrecisionAtK(k=1, delay="7D")
    day0, day1 = T0, T0 + timedelta(days=1)
    op(Event("prediction", "/t", {"id": 0, "score": 0.9, "customer_id": 1, "day": 0}, time=day0))
    op(Event("prediction", "/t", {"id": 1, "score": 0.5, "customer_id": 2, "day": 1}, time=day1))
    assert op.test(label(0, 1, time=day0 + timedelta(days=7))) == []
    [metric] = op.test(label(1, 0, time=day1 + timedelta(days=7)))
    assert (metric.data["name"], metric.data["day"], metric.data["value"]) == (
        "card_precision@1", 0, 1.0)
    assert op.detected == {1}


def test_without_labels_days_close_once_overdue_so_few_stay_open():
    op = CardPrecisionAtK(k=1, delay="7D", lateness="1D", buffer_size=500)
    out, most_open = [], 0
    for i in range(100 * 24):  # 100 days, one prediction an hour, no label ever
        out += op.test(Event("prediction", "/t", {"id": i, "score": 0.5, "customer_id": i % 7,
                                                  "day": i // 24},
                             time=T0 + timedelta(hours=i)))
        most_open = max(most_open, len(op._open))
    assert most_open == 7 + 1 + 1  # delay + lateness in days, and the day that just began
    assert op.expired == len(out) == 100 - most_open
    assert [e.data["day"] for e in out] == list(range(len(out)))
    assert all(e.data["value"] == 0.0 for e in out)  # no label: no fraud found
    assert (len(op.buffer), op.evicted) == (500, 100 * 24 - 500)


def test_card_precision_breaks_score_ties_by_the_lower_card_id():
    op = CardPrecisionAtK(k=1, delay="0s")
    for i, card in enumerate([5, 3]):  # equal scores: the lower card id is alerted
        op(Event("prediction", "/t", {"id": i, "score": 0.5, "customer_id": card, "day": 0},
                 time=T0))
        op(label(i, int(card == 3), time=T0))
    [metric] = op.flush()
    assert metric.data["value"] == 1.0 and op.detected == {3}
