"""Progressive validation through the pipeline reproduces river's published Phishing numbers,
and equals `river.evaluate.progressive_val_score` run directly, on every broker."""

from __future__ import annotations

from river import datasets, evaluate, linear_model, metrics, optim, preprocessing

from edalab.ml.progressive import progressive_score


def scaled_lr(optimizer=None):
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(optimizer=optimizer)


def river_direct(model, metric) -> float:
    return evaluate.progressive_val_score(datasets.Phishing(), model, metric).get()


def test_default_logistic_regression_gives_rivers_published_auc_and_accuracy():
    scores = progressive_score(datasets.Phishing(), scaled_lr(),
                               {"roc_auc": metrics.ROCAUC(), "accuracy": metrics.Accuracy()})
    assert f"{scores['roc_auc']:.2%}" == "95.07%"  # river's progressive_val_score docstring
    assert f"{scores['accuracy']:.2%}" == "89.28%"
    assert scores == {"roc_auc": river_direct(scaled_lr(), metrics.ROCAUC()),
                      "accuracy": river_direct(scaled_lr(), metrics.Accuracy())}


def test_sgd_0005_gives_rivers_accuracy_and_f1():
    scores = progressive_score(datasets.Phishing(), scaled_lr(optim.SGD(0.005)),
                               [metrics.Accuracy(), metrics.F1()])
    assert (round(scores["Accuracy"], 4), round(scores["F1"], 4)) == (0.8872, 0.8712)
    assert scores == {"Accuracy": river_direct(scaled_lr(optim.SGD(0.005)), metrics.Accuracy()),
                      "F1": river_direct(scaled_lr(optim.SGD(0.005)), metrics.F1())}


def test_on_nats_the_scores_are_the_in_memory_ones(nats_broker):
    chosen = {"roc_auc": metrics.ROCAUC(), "accuracy": metrics.Accuracy()}
    on_nats = progressive_score(datasets.Phishing(), scaled_lr(), chosen, broker=nats_broker)
    assert on_nats == {"roc_auc": river_direct(scaled_lr(), metrics.ROCAUC()),
                       "accuracy": river_direct(scaled_lr(), metrics.Accuracy())}
