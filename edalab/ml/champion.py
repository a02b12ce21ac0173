"""`ChallengerPolicy`: on drift, train a challenger beside the champion; promote it only when
it proves better on the same labels.

A reset (`edalab.ml.drift.ResetPolicy`) throws the old model away on the detector's word; a
challenger costs a second model for a while, but the champion keeps serving until the data say
the challenger is better, and a false alarm costs nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from river import metrics, utils

from edalab.events import Event
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin

__all__ = ["ChallengerPolicy"]


def _rolling_log_loss() -> Any:
    return utils.Rolling(metrics.LogLoss, window_size=500)


class ChallengerPolicy(Operator):
    """Champion/challenger after drift: a `DriftMonitor` policy that is also an operator.

    As a policy, ``on_drift`` starts a trial: a fresh challenger from `model_factory` (first
    taught the last `warm_start` labelled examples, if any). As an operator, it reads the
    classifier's own input stream (feature and label events, joined by the classifier's
    ``join``/``label_join`` fields): during a trial, each feature event is scored by the
    champion (``classifier.model``) and the challenger *before* its label is known, and each
    label then updates both models' metric (a fresh `metric` each, so both are judged on the
    same labels, prequentially) and teaches the challenger. Once `min_labels` labels are in, the
    challenger is promoted as soon as it beats the champion by `margin` (in the metric's
    direction): ``classifier.replace_model(challenger, "promoted")`` and its ``model.version``
    event. After `budget` labels without that, it is discarded (a ``challenger.discarded``
    event). A drift during a trial does not start another (``stats["ignored"]``).

    Parameters
    ----------
    classifier
        An `OnlineClassifier` (``model``, ``version``, ``replace_model``); its ``x``, ``join``,
        ``label_join``, ``label_type``, ``label_field``, ``feature_type`` and ``positive``
        say how to read the events.
    model_factory
        Makes a challenger.
    metric
        Makes the metric both models are judged by (default: log loss over the last 500
        labels, ``utils.Rolling(metrics.LogLoss, window_size=500)``). Probability metrics get
        P(positive); label metrics (``requires_labels``) get ``P > 0.5``.
    margin
        How much better the challenger must be (metric units, >= 0).
    min_labels, budget
        Labels a trial needs before a promotion, and after which it gives up.
    warm_start
        How many of the most recent labelled examples a new challenger learns first (0: none).
        With ``warm_start > 0`` the policy buffers every feature event, not only during a
        trial, so a challenger also learns the labels still due for features seen before the
        drift: what delayed labels (the fraud stream's 7 days) need.
    buffer_size
        Most feature events waiting for their label; past it the oldest is dropped
        (``stats["evicted"]``).

    Examples
    --------
    >>> import random
    >>> from datetime import datetime, timezone
    >>> from river import linear_model, preprocessing
    >>> from edalab.ml.classifier import OnlineClassifier
    >>> from edalab.ml.progressive import dataset_events, EVENT_FIELDS
    >>> def model():
    ...     return preprocessing.StandardScaler() | linear_model.LogisticRegression()
    >>> clf = OnlineClassifier(model(), **EVENT_FIELDS)
    >>> policy = ChallengerPolicy(clf, model, min_labels=50, budget=500)
    >>> rng = random.Random(0)
    >>> xs = [{"a": rng.gauss(0, 1)} for _ in range(1200)]
    >>> data = [(x, (x["a"] > 0) == (i < 600)) for i, x in enumerate(xs)]  # flips at 600
    >>> out = []
    >>> for e in dataset_events(data):
    ...     if e.id == "features-600":  # say a drift detector fired here
    ...         out += policy.on_drift(Event("drift.detected", "/d", {}, time=e.time))
    ...     _ = clf.test(e)
    ...     out += policy.test(e)
    >>> [(e.type, e.data.get("version")) for e in out]
    [('challenger.started', None), ('model.version', 2)]
    >>> s = policy.stats
    >>> s["promoted"], policy.state, s["labels"], clf.version
    (1, 'idle', 50, 2)
    """

    def __init__(
        self,
        classifier: Any,
        model_factory: Callable[[], Any],
        *,
        metric: Callable[[], Any] = _rolling_log_loss,
        margin: float = 0.0,
        min_labels: int = 200,
        budget: int = 5_000,
        warm_start: int = 0,
        buffer_size: int = 100_000,
        source: str = "/edalab/ml/champion",
        name: str = "challenger",
    ) -> None:
        if not callable(getattr(classifier, "replace_model", None)):
            raise TypeError("classifier must have model, version and replace_model(model, "
                            "reason)")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if not 1 <= min_labels <= budget:
            raise ValueError(f"need 1 <= min_labels <= budget, got {min_labels} and {budget}")
        if warm_start < 0:
            raise ValueError(f"warm_start must be >= 0, got {warm_start}")
        self.classifier = classifier
        self.model_factory = model_factory
        self.metric = metric
        self.margin = margin
        self.min_labels = min_labels
        self.budget = budget
        self.warm_start = warm_start
        self.buffer_size = buffer_size
        self.source = source
        self.__name__ = name
        self.x = getattr(classifier, "x", "x")
        self.join = getattr(classifier, "join", "tx_id")
        self.label_join = getattr(classifier, "label_join", "tx_id")
        self.label_type = getattr(classifier, "label_type", "fraud.label")
        self.label_field = getattr(classifier, "label_field", "fraud")
        self.feature_type = getattr(classifier, "feature_type", None)
        self.positive = getattr(classifier, "positive", True)
        probe = metric()
        self.bigger_is_better = bool(probe.bigger_is_better)
        self._needs_label = bool(getattr(probe, "requires_labels", False))
        self.challenger: Any = None
        self.champion_metric: Any = None
        self.challenger_metric: Any = None
        inner = getattr(probe, "obj", probe)  # utils.Rolling wraps the metric
        self.metric_name = type(inner).__name__
        # join id -> (x, trial number, champion's P(positive), challenger's); the scores are
        # None outside a trial (features kept for warm_start or the trial that may follow).
        self.buffer = LabelJoin(buffer_size, label_join=self.label_join,
                                label_field=self.label_field)
        self._trial = 0
        self._recent: deque = deque(maxlen=warm_start or None)
        self._labels = 0
        self._counts = dict.fromkeys(("drifts", "started", "ignored", "promoted", "discarded"), 0)

    def __repr__(self) -> str:
        return f"ChallengerPolicy(state={self.state!r}, promoted={self._counts['promoted']})"

    @property
    def state(self) -> str:
        """``"trial"`` while a challenger is being evaluated, else ``"idle"``."""
        return "idle" if self.challenger is None else "trial"

    @property
    def stats(self) -> dict[str, Any]:
        """Drifts seen, trials started/ignored/promoted/discarded, the trial's labels, the
        join's counters (features waiting for their label, evicted, labels that found none),
        and the two metric values (None outside a trial's first). `state` says whether a
        trial runs."""
        out: dict[str, Any] = {**self._counts, "labels": self._labels, **self.buffer.stats}
        out["champion"] = self.champion_metric.get() if self.champion_metric else None
        out["challenger"] = self.challenger_metric.get() if self.challenger_metric else None
        return out

    # -- policy ----------------------------------------------------------------------------

    def on_drift(self, event: Event) -> list[Event]:
        """Start a trial (unless one is running): the ``challenger.started`` event."""
        self._counts["drifts"] += 1
        if self.challenger is not None:
            self._counts["ignored"] += 1
            return []
        self._counts["started"] += 1
        challenger = self.model_factory()
        for x, y in self._recent:
            challenger.learn_one(x, y)
        self.challenger = challenger
        self.champion_metric = self.metric()
        self.challenger_metric = self.metric()
        self._labels = 0
        self._trial += 1
        return [self._event("challenger.started", event.time,
                            {"warm_start": len(self._recent), "drift": event.id})]

    # -- operator --------------------------------------------------------------------------

    def process(self, event: Event) -> list[Event]:
        etype = event.type
        if etype == self.label_type:
            out = self._on_label(event)
            return [] if out is None else [out]
        if self.challenger is None and not self.warm_start:
            return []
        if self.feature_type is not None and etype != self.feature_type:
            return []
        data = event.data
        try:
            x = data[self.x]
            jid = data[self.join]
        except (KeyError, TypeError):
            raise ValueError(f"feature event {event.id!r}: data needs fields {self.x!r} and "
                             f"{self.join!r}") from None
        if self.challenger is None:
            held: tuple[Any, int, float | None, float | None] = (x, 0, None, None)
        else:
            held = (x, self._trial, self._score(self.classifier.model, x),
                    self._score(self.challenger, x))
        self.buffer.hold(jid, held)
        return []

    def _score(self, model: Any, x: dict) -> float | None:
        proba = model.predict_proba_one(x)
        return proba.get(self.positive, 0.0) if proba else None

    def _on_label(self, event: Event) -> Event | None:
        held, y = self.buffer.label(event)
        if held is None:
            return None
        x, trial, champion, challenger = held
        if self.warm_start:
            self._recent.append((x, y))
        if self.challenger is None:
            return None
        # Scored in this trial: judge both models on it. Seen before the trial (scored by
        # nobody): the challenger still learns it, as it learns every label after the drift.
        if trial == self._trial and champion is not None and challenger is not None:
            truth = y == self.positive
            if self._needs_label:
                champion, challenger = champion > 0.5, challenger > 0.5
            self.champion_metric.update(truth, champion)
            self.challenger_metric.update(truth, challenger)
            self._labels += 1
        self.challenger.learn_one(x, y)
        return self._decide(event)

    def _decide(self, event: Event) -> Event | None:
        n = self._labels
        if n < self.min_labels:
            return None
        champion, challenger = self.champion_metric.get(), self.challenger_metric.get()
        gain = challenger - champion if self.bigger_is_better else champion - challenger
        if gain >= self.margin and gain > 0:
            model, self.challenger = self.challenger, None
            self._counts["promoted"] += 1
            return self.classifier.replace_model(model, "promoted", time=event.time)
        if n >= self.budget:
            self.challenger = None
            self._counts["discarded"] += 1
            return self._event("challenger.discarded", event.time,
                               {"labels": n, "champion": champion, "challenger": challenger})
        return None

    def _event(self, etype: str, time: Any, extra: dict) -> Event:
        data = {"champion_version": self.classifier.version, "metric": self.metric_name,
                **extra}
        n = self._counts["started"]
        return Event(etype, self.source, data, time=time, id=f"{etype}-{self.__name__}-{n}")
