"""`TextClassifier`: an `OnlineClassifier` for text events, on river's bag of words.

It classifies each text event as it arrives (``predict_proba_one`` on the raw text), emits a
``prediction`` with the predicted ``label`` and its ``confidence`` (the top class
probability), and learns from the text when its label event arrives, possibly much later
(the `edalab.operators.LabelJoin` of every classifier). `PrequentialMetrics` with
``river.metrics.Accuracy`` on its predictions gives the prequential accuracy.

>>> from edalab.streams.text import incident_reports, text_events, text_label_events
>>> from edalab.streams import merge
>>> df = incident_reports(600, seed=0, novel_at=None)
>>> op = TextClassifier()
>>> out = op.test(merge(text_events(df), text_label_events(df, delay="30min")))
>>> preds = [e.data for e in out if e.type == "prediction"]
>>> sorted(preds[-1])
['confidence', 'id', 'label', 'latency_us', 'model_version', 'score']
>>> right = sum(p["label"] == c for p, c in zip(preds[100:], df.category[100:]))
>>> round(right / 500, 2)
0.88
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from river import feature_extraction, naive_bayes

from edalab.events import Event
from edalab.ml.classifier import OnlineClassifier, model_name
from edalab.readonly import ReadOnlyDict

__all__ = ["TextClassifier", "default_text_model"]


def default_text_model() -> Any:
    """Lower-cased word counts into a multinomial naive Bayes (``alpha=0.1``): fast, learns
    one example at a time, and new words and classes need nothing special."""
    return feature_extraction.BagOfWords(lowercase=True) | naive_bayes.MultinomialNB(alpha=0.1)


class TextClassifier(OnlineClassifier):
    """Classify text events and learn from their delayed labels.

    A text event's data holds the text under `text` and its join id under `join`; a label
    event (type `label_type`) holds the id under `label_join` and the class under
    `label_field`. Each prediction's data is ``{"id", "label", "confidence", "score",
    "model_version", "latency_us"}`` plus the `passthrough` fields; ``score`` equals
    ``confidence``. Before the model has learnt anything, ``label`` is None and ``confidence``
    0. A text that is missing, not a string or empty raises `ValueError` naming the event (an
    `App` dead-letters it).

    Parameters
    ----------
    model
        A river text classifier (``predict_proba_one`` on a string); default
        `default_text_model`.
    text, join, label_join, label_type, label_field
        The fields and types read (see above).
    passthrough
        Fields of the text event's data copied into each prediction (``("text",)`` lets a
        router forward the text itself).
    Other parameters are those of `OnlineClassifier`.
    """

    def __init__(self, model: Any = None, *, text: str = "text", join: str = "id",
                 label_join: str = "id", label_type: str = "incident.label",
                 label_field: str = "category", feature_type: str | None = None,
                 passthrough: Sequence[str] = (), buffer_size: int = 100_000,
                 forward_labels: bool = False, prediction_type: str = "prediction",
                 source: str = "/edalab/ml/text", name: str = "text_classifier") -> None:
        super().__init__(default_text_model() if model is None else model, x=text, join=join,
                         label_join=label_join, label_type=label_type,
                         label_field=label_field, feature_type=feature_type,
                         passthrough=passthrough, positive=None, emit_label=True,
                         validate=True, buffer_size=buffer_size,
                         forward_labels=forward_labels, prediction_type=prediction_type,
                         source=source, name=name)
        self.text = text

    def __repr__(self) -> str:
        return (f"TextClassifier({model_name(self.model)}, text={self.text!r}, "
                f"version={self.version}, buffered={len(self.buffer)})")

    def _extended(self, jid: Any, score: float | None, seconds: float, proba: dict,
                  event: Event) -> ReadOnlyDict:
        out = dict(super()._extended(jid, score, seconds, proba, event))
        confidence = proba[out["label"]] if proba else 0.0
        out["confidence"] = out["score"] = float(confidence)
        return ReadOnlyDict(out)

    def _checked(self, event: Event) -> tuple[Any, Any]:
        """Every text event comes here (a string fails the numeric fast check): check that
        the text is a non-empty string."""
        data = event.data
        where = f"text event {event.id!r}"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: data must be a dict, got {type(data).__name__}")
        for field in (self.x, self.join):
            if field not in data:
                raise ValueError(f"{where}: field {field!r} is missing from its data")
        text = data[self.x]
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: field {self.x!r} must be a non-empty string, got "
                             f"{text!r:.40}")
        return text, data[self.join]
