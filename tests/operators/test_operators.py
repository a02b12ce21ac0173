"""Every operator in edalab passes `check_operator`, each fed a small seeded stream built by a
factory for its class; an `Operator` subclass without a factory here fails the suite."""

from __future__ import annotations

import heapq
import importlib
import pkgutil
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from river import anomaly, drift, linear_model, metrics, preprocessing, stats

import edalab
from edalab import Event
from edalab.fraud.features import FraudFeatures
from edalab.fraud.metrics_stage import MetricsStage
from edalab.fraud.models import make_model
from edalab.fraud.retrain import PeriodicRetrainer
from edalab.health.alerts import AlertPolicy, level_of
from edalab.health.monitor import News2Operator
from edalab.health.validation import Validator
from edalab.ml import (
    AnomalyDetector,
    CardPrecisionAtK,
    ChallengerPolicy,
    DriftMonitor,
    HoppingWindow,
    OnlineClassifier,
    PrequentialMetrics,
    SessionWindow,
    TumblingWindow,
)
from edalab.ml.novelty import ErrorDrift, NoveltyDetector
from edalab.ml.progressive import EVENT_FIELDS, dataset_events
from edalab.ml.routing import SemanticRouter
from edalab.ml.text import TextClassifier
from edalab.operators import Operator
from edalab.scalability.uc4_hierarchy import HierarchyWindow
from edalab.streams import label_events, transaction_events, transactions, vitals, vitals_events
from edalab.testing import check_operator

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _lr():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def _examples(n=60, seed=0):
    rng = random.Random(seed)
    return dataset_events(({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}, rng.random() < 0.5)
                          for _ in range(n))


def _predictions(n=60, seed=0):
    """Predictions (with a card and a day) each followed by its label."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = T0 + timedelta(hours=6 * i)
        out.append(Event("prediction", "/t", {"id": i, "score": rng.random(), "model_version": 1,
                                              "customer_id": rng.randrange(5), "day": i // 4},
                         time=t, id=f"p{i}"))
        out.append(Event("fraud.label", "/t", {"tx_id": i, "fraud": int(rng.random() < 0.3)},
                         time=t, id=f"l{i}"))
    return out


def _readings(n=80, seed=0):
    rng = random.Random(seed)
    return [Event("reading", "/s", {"watts": rng.gauss(50, 5), "amps": rng.gauss(2, 0.1)},
                  key=f"s{i % 2}", time=T0 + timedelta(minutes=3 * i), id=f"r{i}")
            for i in range(n)]


def _fraud_events(features=False):
    df = transactions(customers=10, terminals=20, days=12, seed=1)
    events = list(heapq.merge(label_events(df, delay="2D"),
                              transaction_events(df.drop(columns=["TX_FRAUD"])),
                              key=lambda e: e.time))
    if features:
        op = FraudFeatures("2D")
        events = [op(e) for e in events]
    return events


def _observations():
    return list(vitals_events(vitals(patients=2, hours=3, seed=1)))


def _assessed(n=40, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        news2 = rng.choice([0, 1, 5, 7])
        out.append(Event("vitals.assessed", "/t", {
            "patient_id": f"p{i % 2}", "news2": news2, "partial": news2, "red": False,
            "level": level_of(news2, False), "score": rng.random() * 6},
            key=f"p{i % 2}", time=T0 + timedelta(minutes=15 * i), id=f"o{i}"))
    return out


def _challenger():
    clf = OnlineClassifier(_lr(), **EVENT_FIELDS)
    policy = ChallengerPolicy(clf, _lr, min_labels=5, budget=20, warm_start=10)
    policy.on_drift(Event("drift.detected", "/d", {}, time=T0))
    return policy, _examples()


def _validated():
    validator = Validator()
    return [e for o in _observations() for e in validator.process(o)
            if e.type == "vitals.validated"]



def _reports(n=120):
    from edalab.streams import incident_reports, merge, text_events, text_label_events
    df = incident_reports(n, seed=0, novel_at=0.5)
    return list(merge(text_events(df), text_label_events(df, delay="20min")))


def _text_predictions():
    from edalab.ml import TextClassifier
    return TextClassifier(forward_labels=True).test(_reports())


def _children(n=60):
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [Event("power.child", "/tests", {"group": f"g{i % 2}", "child": f"s{i % 4}",
                                            "valueInW": 10.0 + i % 7, "count": 1,
                                            "timestamp": 1_700_000_000_000 + 1000 * i},
                  key=f"g{i % 2}", time=t0 + timedelta(seconds=i), id=f"c{i}")
            for i in range(n)]

FACTORIES: dict[type, Callable[[], tuple[Operator, list[Event]]]] = {
    OnlineClassifier: lambda: (OnlineClassifier(_lr(), **EVENT_FIELDS), _examples()),
    PrequentialMetrics: lambda: (PrequentialMetrics({"auc": metrics.ROCAUC()}, every=10),
                                 _predictions()),
    CardPrecisionAtK: lambda: (CardPrecisionAtK(k=2, delay="1D"), _predictions()),
    DriftMonitor: lambda: (DriftMonitor(lambda: drift.PageHinkley(mode="up", threshold=1)),
                           _predictions()),
    ChallengerPolicy: _challenger,
    AnomalyDetector: lambda: (AnomalyDetector(
        anomaly.HalfSpaceTrees(seed=1, window_size=20, limits={"watts": (0, 100),
                                                                "amps": (0, 4)}),
        x=("watts", "amps"), threshold=0.5, key=True), _readings()),
    TumblingWindow: lambda: (TumblingWindow("15min", {"watts": stats.Mean}), _readings()),
    HoppingWindow: lambda: (HoppingWindow("15min", "5min", stats.Sum, value="watts"),
                            _readings()),
    SessionWindow: lambda: (SessionWindow("4min", {"n": stats.Count, "watts": stats.Max}),
                            _readings()),
    FraudFeatures: lambda: (FraudFeatures("2D"), _fraud_events()),
    PeriodicRetrainer: lambda: (PeriodicRetrainer(OnlineClassifier(make_model("lr")),
                                                  every="3D", window="6D", holdout="2D"),
                                _fraud_events(features=True)),
    MetricsStage: lambda: (MetricsStage([PrequentialMetrics([metrics.Accuracy()], every=5),
                                         CardPrecisionAtK(k=2, delay="1D")], list().append),
                           _predictions()),
    News2Operator: lambda: (News2Operator(), _validated()),
    Validator: lambda: (Validator(), _observations()),
    AlertPolicy: lambda: (AlertPolicy("combined", warmup=2), _assessed()),
    TextClassifier: lambda: (TextClassifier(forward_labels=True), _reports()),
    SemanticRouter: lambda: (SemanticRouter(0.8), _text_predictions()),
    NoveltyDetector: lambda: (NoveltyDetector(), _reports()),
    ErrorDrift: lambda: (ErrorDrift(lambda: drift.ADWIN(delta=0.1)), _text_predictions()),
    HierarchyWindow: lambda: (HierarchyWindow("5s", "5s"), _children()),
}


def _all_operators() -> set[type]:
    for module in pkgutil.walk_packages(edalab.__path__, "edalab."):
        if not module.name.endswith(".__main__"):  # running it would start the CLI
            importlib.import_module(module.name)
    found, todo = set(), [Operator]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("edalab.") and not sub.__dict__.get("_abstract"):
                found.add(sub)
    return found


def test_every_operator_in_edalab_has_a_factory_here():
    missing = sorted(cls.__qualname__ for cls in _all_operators() - set(FACTORIES))
    assert missing == [], ("operators without a factory in tests/operators/test_operators.py: "
                           f"{missing}")


@pytest.mark.parametrize("cls", list(FACTORIES), ids=lambda cls: cls.__name__)
def test_operator_passes_the_generic_checks(cls):
    op, events = FACTORIES[cls]()
    assert type(op) is cls
    check_operator(op, events)
