"""The fraud pipeline's named river models (`make_model`): logistic regression (SGD or Adam),
a Hoeffding tree, an adaptive random forest on undersampled genuine labels, Half-Space Trees
behind the classifier interface, and the weekly retrain's online start."""

from __future__ import annotations

from typing import Any

__all__ = ["MODELS", "make_model"]

#: The named models of `make_model`.
MODELS = ("lr", "lr-adam", "hoeffding", "arf", "hst", "retrain")


class _AnomalyScorer:
    """An unsupervised river anomaly detector behind the classifier interface: the score is
    the anomaly score, and a label only teaches it the features (never the label)."""

    def __init__(self, model: Any):
        self.model = model

    def __repr__(self) -> str:
        return f"anomaly({self.model})"

    def predict_proba_one(self, x: dict) -> dict[bool, float]:
        score = self.model.score_one(x)
        return {False: 1.0 - score, True: score}

    def learn_one(self, x: dict, y: Any) -> None:
        self.model.learn_one(x)


def make_model(name: str, seed: int = 0) -> Any:
    """A river model by name, tuned for the handbook's data.

    - ``"lr"``: ``StandardScaler | LogisticRegression(optim.SGD(0.001))`` (the step that matches
      a batch logistic regression; river's default 0.01 loses about 0.03 AP);
    - ``"lr-adam"``: the same with ``optim.Adam(0.001)``;
    - ``"hoeffding"``: ``HoeffdingTreeClassifier(max_share_to_split=1.0)`` (the default 0.99
      never splits when 99.2 % of the labels are genuine);
    - ``"arf"``: ``ARFClassifier`` learning from every fraud and about 10 % of the genuine
      labels (river's ``RandomUnderSampler``): splits happen, and it learns ~9x faster;
    - ``"hst"``: ``MinMaxScaler | HalfSpaceTrees``, unsupervised: the score is the anomaly
      score;
    - ``"retrain"``: ``"lr"`` as the first champion; `FraudPipeline` then wraps its classifier
      in a `PeriodicRetrainer`.

    Examples
    --------
    >>> str(make_model("lr"))
    'StandardScaler | LogisticRegression'
    """
    from river import anomaly, forest, imblearn, linear_model, optim, preprocessing, tree

    if name in ("lr", "retrain"):
        return preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(0.001))
    if name == "lr-adam":
        return preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.Adam(0.001))
    if name == "hoeffding":
        return tree.HoeffdingTreeClassifier(max_share_to_split=1.0)
    if name == "arf":
        return imblearn.RandomUnderSampler(
            forest.ARFClassifier(n_models=10, seed=seed, max_share_to_split=1.0),
            desired_dist={0: 0.9, 1: 0.1}, seed=seed)
    if name == "hst":
        return _AnomalyScorer(preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=seed))
    raise ValueError(f"unknown model {name!r}; choose from {MODELS} or pass a river model")
