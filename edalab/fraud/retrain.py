"""`PeriodicRetrainer`: retrain a batch model from the label stream, promote it if it wins.

An online model learns one label at a time; a fraud team also retrains, every week, a
batch model on the labelled transactions of the last weeks. `PeriodicRetrainer` does that
inside the stream. It wraps the pipeline's `OnlineClassifier` stage (same input, same
predictions) and keeps, as labels arrive, the labelled feature vectors of the last `window`
(every fraud, and a seeded sample of `genuine_fraction` of the genuine ones). Every `every` of
event time it trains a challenger (scikit-learn's `HistGradientBoostingClassifier` by default)
on all but the most recent `holdout` of them, scores the holdout, and compares its average
precision with the champion's: the scores the champion gave those transactions live, before
their labels existed. A better challenger is refitted on everything and promoted
(``classifier.replace_model(..., "retrained")``, a ``model.version`` event).

The promoted model is served by `CompiledTrees`: the fitted trees turned into one Python
function, because scikit-learn's own ``predict_proba`` costs about a millisecond per single
row (input checks, a thread pool) against a few microseconds here.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.fraud.features import FEATURES
from edalab.operators.base import Operator

__all__ = ["CompiledTrees", "PeriodicRetrainer", "gradient_boosting"]


def gradient_boosting(seed: int = 0) -> Any:
    """The default challenger: scikit-learn's histogram gradient boosting (early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, max_depth=8, random_state=seed)


class CompiledTrees:
    """A fitted `HistGradientBoostingClassifier` as a river-style classifier that does not learn.

    ``predict_proba_one(x)`` walks every tree in generated Python code (one expression per
    tree) and returns ``{False: 1 - p, True: p}``, equal to the model's ``predict_proba`` up to
    float rounding; ``learn_one`` does nothing (it is retrained in batch). `log_odds_shift` is
    added to the raw score: ``log(genuine_fraction)`` undoes the prior shift of a model trained
    on a sample of the genuine class, so the probabilities stay calibrated for thresholds.

    Parameters
    ----------
    model
        A fitted binary `sklearn.ensemble.HistGradientBoostingClassifier` (numeric features).
    features
        Names of its input columns, in order (the keys of ``x``).
    log_odds_shift
        Added to the raw (log-odds) score.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2)); y = X[:, 0] + X[:, 1] > 0.5
    >>> hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    >>> model = CompiledTrees(hgb, ["a", "b"])
    >>> p = model.predict_proba_one({"a": 1.0, "b": 0.2})[True]
    >>> bool(abs(p - hgb.predict_proba([[1.0, 0.2]])[0, 1]) < 1e-9)
    True
    """

    def __init__(self, model: Any, features: list[str], log_odds_shift: float = 0.0):
        predictors = getattr(model, "_predictors", None)
        if predictors is None or len(getattr(model, "classes_", ())) != 2:
            raise TypeError("CompiledTrees needs a fitted binary HistGradientBoostingClassifier")
        self.features = list(features)
        self.n_trees = len(predictors)
        self.log_odds_shift = float(log_odds_shift)
        self.classes = [bool(c) for c in model.classes_]
        base = float(np.ravel(model._baseline_prediction)[0]) + self.log_odds_shift
        lines = [f"def raw({', '.join(f'f{i}' for i in range(len(self.features)))}):",
                 f"    s = {base!r}"]
        for [tree] in predictors:
            lines.append(f"    s += {_expression(tree.nodes, 0)}")
        lines.append("    return s")
        scope: dict[str, Any] = {}
        exec(compile("\n".join(lines), "<CompiledTrees>", "exec"), scope)  # noqa: S102
        self._raw = scope["raw"]

    def __repr__(self) -> str:
        return f"CompiledTrees(HistGradientBoosting, trees={self.n_trees})"

    def predict_proba_one(self, x: dict) -> dict[bool, float]:
        raw = self._raw(*[x[name] for name in self.features])
        p = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
        return {self.classes[0]: 1.0 - p, self.classes[1]: p}

    def learn_one(self, x: dict, y: Any) -> None:
        """A batch model learns in `PeriodicRetrainer`, not per label."""


def _expression(nodes: np.ndarray, i: int) -> str:
    node = nodes[i]
    if node["is_leaf"]:
        return repr(float(node["value"]))
    feature, threshold = int(node["feature_idx"]), float(node["num_threshold"])
    return (f"({_expression(nodes, int(node['left']))} if f{feature} <= {threshold!r} "
            f"else {_expression(nodes, int(node['right']))})")


class PeriodicRetrainer(Operator):
    """Wrap an `OnlineClassifier` stage: predict with it, and retrain a batch challenger every
    `every` of event time from the labels that have arrived.

    Use it as the classifier's `App` handler (output: the predictions topic; ``model.version``
    events come out of it too). ``retrainer.history`` lists every retrain: time, examples,
    both average precisions on the holdout, promoted or not.

    Parameters
    ----------
    classifier
        The `OnlineClassifier` (its ``x``, ``join``, ``label_join``, ``label_field`` say how
        to read events); its model is the first champion.
    model_factory
        ``model_factory(seed)`` makes an unfitted `HistGradientBoostingClassifier`-like model.
    every, window, holdout
        Retrain period; how much labelled history (by transaction time) is kept; how much of
        the most recent is held out to compare challenger and champion (durations).
    genuine_fraction
        Share of genuine labels kept (all frauds are kept).
        A prediction whose label has not come within `window` of event time is dropped
        (``stats["pending_expired"]``): it would be out of the window by then.
    min_frauds
        Frauds the training part needs before a first retrain.
    seed
        Seeds the genuine sample and the models.
    """

    def __init__(self, classifier: Any, *, model_factory: Callable[[int], Any] = gradient_boosting,
                 every: Any = "7D", window: Any = "28D", holdout: Any = "7D",
                 genuine_fraction: float = 0.2, min_frauds: int = 50, seed: int = 0):
        if not 0 < genuine_fraction <= 1:
            raise ValueError(f"genuine_fraction must be in (0, 1], got {genuine_fraction!r}")
        self.classifier = classifier
        self.model_factory = model_factory
        self.every = parse_duration(every, name="every").to_pytimedelta()
        self.window = parse_duration(window, name="window").total_seconds()
        self.holdout = parse_duration(holdout, name="holdout", allow_zero=True).total_seconds()
        if self.window <= self.holdout:
            raise ValueError("window must be longer than holdout")
        self.genuine_fraction = genuine_fraction
        self.min_frauds = min_frauds
        self.seed = seed
        self.__name__ = getattr(classifier, "__name__", "classifier")
        self.history: list[dict] = []
        self._rng = random.Random(seed)
        self._pending: dict[Any, tuple] = {}  # join id -> (tx time, x, champion score)
        self._labelled: deque[tuple] = deque()  # (tx time, x values, y, champion score)
        self._next: Any = None
        self._expired = 0
        self._sweep_at = -math.inf  # event time (s) of the next sweep of `_pending`

    def __repr__(self) -> str:
        promoted = sum(h["promoted"] for h in self.history)
        return f"PeriodicRetrainer(retrains={len(self.history)}, promoted={promoted})"

    @property
    def stats(self) -> dict[str, int]:
        """Predictions waiting for their label, those dropped unlabelled (expired), labelled
        examples kept, retrains."""
        return {"pending": len(self._pending), "pending_expired": self._expired,
                "labelled": len(self._labelled), "retrains": len(self.history)}

    def process(self, event: Event) -> list[Event]:
        clf = self.classifier
        out = clf.process(event)
        when = event.time
        if event.type == clf.label_type:
            held = self._pending.pop(event.data.get(clf.label_join), None)
            if held is not None:
                y = bool(event.data[clf.label_field])
                if y or self._rng.random() < self.genuine_fraction:
                    t, x, score = held
                    self._labelled.append((t, [x[f] for f in FEATURES], y, score))
        elif out and out[0].type == clf.prediction_type:
            prediction = out[0].data
            t = when.timestamp()
            self._pending[prediction["id"]] = (t, event.data[clf.x], prediction["score"])
            if t >= self._sweep_at:
                self._expire(t)
        if self._next is None:
            self._next = when + self.every
        elif when >= self._next:
            self._next = when + self.every
            version = self._retrain(when)
            if version is not None:
                return out + [version]
        return out

    def _expire(self, now: float) -> None:
        """Drop the predictions that have waited a whole `window` for their label (it would
        train nothing: they are out of the window); sweeps every eighth of a window."""
        horizon = now - self.window
        old = []
        for jid, held in self._pending.items():
            if held[0] > horizon:
                break
            old.append(jid)
        for jid in old:
            del self._pending[jid]
        self._expired += len(old)
        self._sweep_at = now + self.window / 8

    def _retrain(self, when: Any) -> Event | None:
        labelled = self._labelled
        if not labelled:
            return None
        newest = labelled[-1][0]
        while labelled and labelled[0][0] <= newest - self.window:
            labelled.popleft()
        t = np.array([r[0] for r in labelled])
        X = np.array([r[1] for r in labelled])
        y = np.array([r[2] for r in labelled])
        recent = t > newest - self.holdout
        if y[~recent].sum() < self.min_frauds or y[recent].sum() == 0:
            return None
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # threads only fight over a busy machine's cores
            challenger = self.model_factory(self.seed).fit(X[~recent], y[~recent])
            theirs = challenger.predict_proba(X[recent])[:, 1]
        ours = np.array([0.0 if r[3] is None else r[3] for r, keep in zip(labelled, recent,
                                                                           strict=True) if keep])
        record = {"time": when, "examples": int(len(y)), "frauds": int(y.sum()),
                  "challenger_ap": float(average_precision_score(y[recent], theirs)),
                  "champion_ap": float(average_precision_score(y[recent], ours)),
                  "promoted": False}
        self.history.append(record)
        if record["challenger_ap"] <= record["champion_ap"]:
            return None
        with threadpool_limits(1):
            model = self.model_factory(self.seed).fit(X, y)
        record["promoted"] = True
        compiled = CompiledTrees(model, FEATURES, np.log(self.genuine_fraction))
        return self.classifier.replace_model(compiled, "retrained", time=when)
