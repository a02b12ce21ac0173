"""FraudPipeline: transactions and labels in-band, features, classifier, decisions, metrics."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from edalab.brokers.base import dead_letter_topic
from edalab.fraud.models import MODELS, make_model
from edalab.fraud.pipeline import FraudPipeline
from edalab.streams import transaction_events, transactions


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return transactions(customers=60, terminals=120, days=25, seed=2)


@pytest.fixture(scope="module")
def pipe(df) -> FraudPipeline:
    pipe = FraudPipeline(model="lr", review=0.3, block=0.6, metrics_every=500).feed(df)
    pipe.stats = pipe.run()
    return pipe


def test_every_transaction_gets_one_prediction_and_one_decision(df, pipe):
    assert sorted(pipe.predictions().tx_id) == sorted(pipe.decisions().tx_id) == sorted(df.TX_ID)
    d = pipe.decisions()
    d = d[d.decision != "abstain"]  # the thresholds apply once the model has learned a label
    assert (d.loc[d.score >= 0.6, "decision"] == "block").all()
    assert (d.loc[(d.score >= 0.3) & (d.score < 0.6), "decision"] == "review").all()
    assert (d.loc[d.score < 0.3, "decision"] == "approve").all()
    assert pipe.stats.dead_letters == 0 and pipe.stats.final_lag == 0


def test_each_label_follows_its_prediction_on_the_predictions_topic(df, pipe):
    position = {}
    for i, record in enumerate(pipe.app.broker.read("predictions")):
        e = record.event
        position[(e.type, e.data["id"] if e.type == "prediction" else e.data["tx_id"])] = i
    assert all(position[("prediction", t)] < position[("fraud.label", t)] for t in df.TX_ID)


def test_metrics_come_every_n_labels_and_once_a_day_for_card_precision(df, pipe):
    m = pipe.metrics()
    assert set(m.name) == {"roc_auc", "average_precision", "card_precision@100"}
    assert (m[m.name == "roc_auc"].n % 500 == 0).all()
    assert sorted(m[m.name == "card_precision@100"].day) == sorted(df.TX_TIME_DAYS.unique())


def test_a_bad_transaction_is_dead_lettered_and_the_pipeline_goes_on(df):
    pipe = FraudPipeline(model="lr").feed(df)
    first = next(transaction_events(df))
    bad = [first.replace(id=f"bad-{i}", data={**first.data, "TX_ID": -i, **change})
           for i, change in enumerate([{"TX_AMOUNT": "12.50"}, {"TX_AMOUNT": float("nan")},
                                       {"CUSTOMER_ID": None}], start=1)]
    pipe.app.source("payments", bad)
    stats = pipe.run()
    assert stats.dead_letters == 3
    dlq = [r.event.id for r in pipe.app.broker.read(dead_letter_topic("payments"))]
    assert sorted(dlq) == ["bad-1", "bad-2", "bad-3"]
    assert len(pipe.predictions()) == len(df)


def test_transactions_that_never_get_a_decision_leave_at_most_max_in_flight_behind(df):
    bad = df.head(600).assign(TX_AMOUNT=float("nan"))  # every one dead-lettered in features
    pipe = FraudPipeline(model="lr", max_in_flight=50).feed(bad)
    stats = pipe.run(batch_size=100)
    assert stats.dead_letters == 600 and len(pipe.decisions()) == 0
    assert pipe.buffer_stats == {"in_flight": 50, "in_flight_evicted": 550}


def test_max_in_flight_must_be_a_positive_int(df):
    with pytest.raises(ValueError, match="max_in_flight must be an int >= 1, got 0"):
        FraudPipeline(max_in_flight=0).feed(df)


def test_set_threshold_applies_to_the_decisions_that_follow(df):
    pipe = FraudPipeline(model="lr", warmup=0).feed(df)
    snapshots = pipe.stream(every=1000)
    first = next(snapshots)
    pipe.set_threshold(review=0.0, block=0.0)
    later = [e for s in snapshots for e in s.decisions]
    assert first.decisions and later
    assert {e.data["decision"] for e in later if e.data["score"] is not None} == {"block"}
    with pytest.raises(ValueError, match="review <= block"):
        pipe.set_threshold(review=0.9, block=0.1)


def test_cold_start_abstains_until_the_model_has_learned_its_first_label(df, pipe):
    d = pipe.decisions()
    first_label = pd.Timestamp(df.TX_DATETIME.min(), tz="UTC") + pd.Timedelta(days=7)
    cold, warm = d[d.time < first_label], d[d.time > first_label]
    assert len(cold) > 300 and (cold.decision == "abstain").all()  # not sent to review
    assert (cold.score == 0.5).all()  # what the untrained model says: the review threshold
    assert "abstain" not in set(warm.decision) and "approve" in set(warm.decision)


def test_warmup_zero_decides_from_the_first_score(df):
    pipe = FraudPipeline(model="lr", warmup=0).feed(df)
    pipe.run()
    first = pipe.decisions().head(100)
    assert set(first.decision) == {"review"}  # 0.5 >= review: the cold start, unhandled
    with pytest.raises(ValueError, match="warmup must be an int >= 0"):
        FraudPipeline(warmup=-1)


def test_repr_writes_the_delay_as_a_person_would(df):
    assert "delay=7 days," in repr(FraudPipeline().feed(df))
    assert "delay=1 day 12 h," in repr(FraudPipeline(delay="36h"))


def test_run_progress_bar_knows_the_total(df, capsys):
    FraudPipeline(model="lr").feed(df.head(500)).run(progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "1000/1000" in err  # 500 transactions and their 500 labels


def test_snapshots_carry_each_new_event_once(df):
    pipe = FraudPipeline(model="lr", metrics_every=500).feed(df)
    snaps = list(pipe.stream(every=1000))
    assert len(snaps) > 2 and snaps[-1].stats.stopped_by == "drained"
    assert [e.id for s in snaps for e in s.decisions] == [f"decision-{t}" for t in
                                                          pipe.decisions().tx_id]
    assert sum(len(s.metrics) for s in snaps) == len(pipe.metrics())
    assert snaps[0].models[0].data["reason"] == "initial"


def test_shadow_models_score_the_same_transactions(df):
    pipe = FraudPipeline(model="lr", shadows=("hoeffding", "hst")).feed(df)
    pipe.run()
    for name in ("hoeffding", "hst"):
        assert sorted(pipe.shadow_predictions(name).tx_id) == sorted(df.TX_ID)
    scores = pipe.shadow_predictions("hst").score
    assert scores.between(0, 1).all() and scores.nunique() > 10


def small_boosting(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=20, random_state=seed)


def test_the_retraining_pipeline_promotes_compiled_challengers():
    df = transactions(customers=150, terminals=300, days=36, seed=4)
    pipe = FraudPipeline(model="retrain",
                         retrain={"min_frauds": 20, "model_factory": small_boosting}).feed(df)
    pipe.run()
    history = pipe.retrainer.history
    versions = pipe.models()
    assert len(history) >= 3 and any(h["promoted"] for h in history)
    assert (versions.reason == "retrained").sum() == sum(h["promoted"] for h in history)
    served = set(pipe.predictions().model_version)
    assert len(served) > 2 and served <= set(versions.version)
    assert pipe.test_week(start_train="2018-04-09")["auc_roc"] > 0.6


def test_named_models_are_river_models():
    for name in MODELS:
        model = make_model(name)
        assert hasattr(model, "predict_proba_one") and hasattr(model, "learn_one")
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        make_model("svm")


def test_metrics_are_dated_in_event_time_under_the_wall_clock(df):
    pipe = FraudPipeline(model="lr", metrics_every=500).feed(df)
    pipe.run(clock="wall")
    last_label = pd.Timestamp(df.TX_DATETIME.max(), tz="UTC") + pd.Timedelta(days=7)
    times = pd.to_datetime(pipe.metrics().time, utc=True)
    assert len(times) and times.max() <= last_label  # the last days' CP@k too, not "now"
