"""`SemanticRouter`: send each event to a topic chosen by a model's prediction when the model
is confident, and to a human-review topic when it is not.

The router reads the ``prediction`` events of a classifier (data ``{"id", "label",
"confidence", ...}``, as `TextClassifier` emits them) and emits one ``route.decision`` event
per prediction (the prediction's data but its ``latency_us`` and ``score``, plus ``topic``,
``routed`` and ``threshold``), naming its topic in ``data["topic"]``; register it with
``output=router.topic_of`` and each decision (carrying the classifier's passthrough fields,
the text for instance) lands on its topic. Decisions are events, so their accuracy is
measurable: when a label event arrives, the router scores the decision made for its id
(``stats``: review share, accuracy of what it routed).

>>> from datetime import datetime, timezone
>>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> router = SemanticRouter(threshold=0.8)
>>> [d] = router.test(Event("prediction", "/m", {"id": 1, "label": "network",
...                                              "confidence": 0.93}, time=t))
>>> d.type, d.data["topic"], router.topic_of(d)
('route.decision', 'incidents.network', 'incidents.network')
>>> [d] = router.test(Event("prediction", "/m", {"id": 2, "label": "disk", "confidence": 0.4},
...                         time=t))
>>> d.data["topic"], d.data["routed"]
('incidents.review', False)
>>> _ = router.test(Event("incident.label", "/l", {"id": 1, "category": "network"}, time=t))
>>> router.stats["review_share"], router.stats["routed_accuracy"]
(0.5, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from edalab.events import Event
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin

__all__ = ["SemanticRouter", "routing_curve"]

#: Prediction fields a decision leaves out: how long the model took is no part of what was
#: decided (and would make the record of the same decisions differ from run to run).
_NOT_DECIDED = frozenset({"latency_us", "score"})


class SemanticRouter(Operator):
    """Route predictions by confidence (see the module docstring).

    Parameters
    ----------
    threshold
        Least ``confidence`` routed by prediction; below it, to `review_topic`. It may be
        changed while the stream runs (``router.threshold = 0.9``).
    topic_prefix, review_topic
        A confident prediction of label ``L`` goes to ``topic_prefix + L``.
    prediction_type, label_type, label_field, label_join
        The events read: predictions, and the labels that score the decisions.
    buffer_size
        Most decisions waiting for their label.
    """

    def __init__(self, threshold: float = 0.8, *, topic_prefix: str = "incidents.",
                 review_topic: str = "incidents.review", prediction_type: str = "prediction",
                 label_type: str = "incident.label", label_field: str = "category",
                 label_join: str = "id", buffer_size: int = 100_000,
                 source: str = "/edalab/ml/router", name: str = "router") -> None:
        self.threshold = threshold
        self.topic_prefix = topic_prefix
        self.review_topic = review_topic
        self.prediction_type = prediction_type
        self.label_type = label_type
        self.source = source
        self.__name__ = name
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        self.routed = self.reviewed = self.scored_routed = self.correct_routed = 0
        self.scored_reviewed = 0

    def __repr__(self) -> str:
        return (f"SemanticRouter(threshold={self.threshold}, routed={self.routed}, "
                f"reviewed={self.reviewed})")

    @property
    def threshold(self) -> float:
        """Least confidence routed by prediction."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= 1:
            raise ValueError(f"threshold must be a number in [0, 1], got {value!r}")
        self._threshold = float(value)

    @property
    def stats(self) -> dict[str, Any]:
        """Decisions routed and sent to review, the share reviewed, and of the routed
        decisions whose label came, the share right (None before any)."""
        decided = self.routed + self.reviewed
        return {"routed": self.routed, "reviewed": self.reviewed,
                "review_share": self.reviewed / decided if decided else None,
                "routed_scored": self.scored_routed,
                "routed_accuracy": (self.correct_routed / self.scored_routed
                                    if self.scored_routed else None),
                **self.buffer.stats}

    def topic_of(self, event: Event) -> str:
        """The topic of a decision (an `App` output function)."""
        return event.data["topic"]

    def process(self, event: Event) -> list[Event]:
        if event.type == self.label_type:
            held, y = self.buffer.label(event)
            if held is not None:
                label, routed = held
                if routed:
                    self.scored_routed += 1
                    self.correct_routed += label == y
                else:
                    self.scored_reviewed += 1
            return []
        if event.type != self.prediction_type:
            return []
        data = event.data
        try:
            jid, label, confidence = data["id"], data["label"], data["confidence"]
        except (KeyError, TypeError):
            raise ValueError(f"prediction {event.id!r}: data needs 'id', 'label' and "
                             "'confidence'") from None
        routed = label is not None and confidence >= self._threshold
        if routed:
            self.routed += 1
        else:
            self.reviewed += 1
        self.buffer.hold(jid, (label, routed))
        decision = {k: v for k, v in data.items() if k not in _NOT_DECIDED}
        decision.update(topic=self.topic_prefix + str(label) if routed else self.review_topic,
                        routed=routed, threshold=self._threshold)
        return [Event("route.decision", self.source, decision, key=event.key, time=event.time,
                      id=f"route-{jid}")]


def routing_curve(confidence: Iterable[float], correct: Iterable[bool],
                  thresholds: Iterable[float] = np.linspace(0, 1, 21)) -> pd.DataFrame:
    """For each threshold, the share of predictions sent to review and the accuracy of those
    routed (NaN when none is): what moving the router's threshold would do.

    >>> routing_curve([0.9, 0.6, 0.3], [True, False, False], [0.5, 0.8]).round(2).values.tolist()
    [[0.5, 0.33, 0.5], [0.8, 0.67, 1.0]]
    """
    conf = np.asarray(list(confidence), dtype=float)
    ok = np.asarray(list(correct), dtype=bool)
    rows = []
    for t in thresholds:
        routed = conf >= t
        n = int(routed.sum())
        rows.append((float(t), 1 - n / len(conf) if len(conf) else np.nan,
                     float(ok[routed].mean()) if n else np.nan))
    return pd.DataFrame(rows, columns=["threshold", "review_share", "routed_accuracy"])
