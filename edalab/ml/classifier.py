"""`OnlineClassifier`: any river classifier as a stream operator that predicts on a feature
event and learns when that event's label arrives, possibly days later.

>>> from datetime import datetime, timezone
>>> from river import linear_model, preprocessing
>>> from edalab import Event
>>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> op = OnlineClassifier(preprocessing.StandardScaler() | linear_model.LogisticRegression(),
...                       join="id", label_join="id", label_type="label", label_field="y",
...                       forward_labels=True)
>>> [p] = op.test(Event("features", "/demo", {"id": 1, "x": {"a": 2.0}}, time=t, id="f1"))
>>> p.type, p.id, p.data["score"], p.data["model_version"]
('prediction', 'prediction-1', 0.5, 1)
>>> [label] = op.test(Event("label", "/demo", {"id": 1, "y": True}, time=t, id="l1"))
>>> label.id, op.stats.learns, op.stats.buffered
('l1', 1, 0)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from numbers import Real
from time import perf_counter
from typing import Any

from edalab.errors import BatchFailure
from edalab.events import Event
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin
from edalab.readonly import ReadOnlyDict

__all__ = ["ClassifierStats", "OnlineClassifier", "model_name"]

#: Reasons a `model.version` event may give (the fraud pipeline's event contract).
VERSION_REASONS = ("initial", "reset", "promoted", "retrained")


@dataclass(frozen=True)
class ClassifierStats(Mapping):
    """What an `OnlineClassifier` has done: a snapshot, taken when `op.stats` is read; read
    it by attribute (``s.learns``) or as the dict of counters every operator has
    (``s["learns"]``, ``dict(s)``)."""

    predictions: int
    learns: int
    unmatched: int
    evicted: int
    buffered: int
    model_version: int

    def __getitem__(self, name: str) -> int:
        if name not in _STATS_FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_STATS_FIELDS)

    def __len__(self) -> int:
        return len(_STATS_FIELDS)

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(zip(_STATS_FIELDS, astuple(self), strict=True))


_STATS_FIELDS = tuple(f.name for f in fields(ClassifierStats))


def model_name(model: Any) -> str:
    """A one-line name of a river model (``StandardScaler | LogisticRegression``).

    >>> from river import linear_model, preprocessing
    >>> model_name(preprocessing.StandardScaler() | linear_model.LogisticRegression())
    'StandardScaler | LogisticRegression'
    """
    text = str(model)
    return text if "\n" not in text else type(model).__name__


class OnlineClassifier(Operator):
    """Predict on each feature event, learn from its label when the label event arrives.

    An `edalab.operators.Operator`: register it as an `App` handler
    (``app.handler("features", output="predictions")(op)``) or run it alone with
    ``op.test(event)``. Its batch path (`process_batch`, what an `App` handler registered
    with ``batch=True`` calls) saves the per-event call: the same events and state as one at
    a time; at a bad event the batch stops with `edalab.BatchFailure`, so `App`
    keeps what came before and runs the rest one event at a time, dead-lettering only the
    bad one.
    Events of type `label_type` are labels; other events (or only those of `feature_type`,
    when given) are feature events.

    - Feature event: ``model.predict_proba_one(x)`` first, then a ``prediction`` event (same key
      and time, id ``prediction-<join id>``, data ``{"id", "score", "model_version",
      "latency_us"}`` plus the `passthrough` fields), and `x` waits in a join buffer under its
      join id. ``score`` is P(`positive`); it is None when the model has no probabilities yet
      (an untrained tree returns ``{}``; river's progressive validation skips those too).
    - Label event: the buffered `x` of its join id is learnt (``model.learn_one(x, y)``) and
      dropped; with `forward_labels` the label event itself is returned, so the next stage sees
      a transaction's label after its prediction, on every broker (labels travel in-band).

    The join buffer (`edalab.operators.LabelJoin`, ``op.buffer``) holds at most
    `buffer_size` feature dicts; beyond that the oldest is evicted (its label will find
    nothing). `op.stats` counts predictions, learns, unmatched labels
    (nothing buffered: evicted, never seen, or a duplicate label), evictions and what is
    buffered now. In an `App` run, the handler's ``events_in`` is feature plus label events,
    ``events_out`` is predictions plus forwarded labels, and a bad feature event (it raises
    `ValueError`) appears there as ``errors`` (once per attempt) and ``dead_letters``, never in
    ``op.stats.predictions``.

    Parameters
    ----------
    model
        Any river classifier or pipeline (``StandardScaler() | LogisticRegression()``).
    x
        Field of the feature event's data holding the feature dict.
    join, label_join
        Field of the feature data, and of the label data, holding the id that joins them.
    label_type, label_field
        Type of the label events, and the field of their data holding the label.
    feature_type
        When given, only events of this type are feature events; others (not labels) are
        forwarded unchanged.
    passthrough
        Fields of the feature data copied into each prediction's data.
    positive
        The label whose probability is the ``score``.
    emit_label
        Add ``"label"``, the predicted label by river's `predict_one` rule (the most probable
        class), to each prediction: what label metrics such as Accuracy need to match river.
    validate
        Reject (`ValueError`, naming the event and the feature) a feature event whose features
        are missing, not a dict, or hold a value that is not a finite number. False passes
        them to the model as they are (categorical strings for a ``OneHotEncoder`` pipeline).
    buffer_size
        Most feature dicts waiting for their label.
    forward_labels
        Return each label event after learning from it.
    prediction_type, source
        Type and source of the events the operator emits.
    version
        The first model version.
    name
        The handler's name (and default consumer group) in an `App`.
    """

    def __init__(self, model: Any, *, x: str = "x", join: str = "tx_id",
                 label_join: str = "tx_id", label_type: str = "fraud.label",
                 label_field: str = "fraud", feature_type: str | None = None,
                 passthrough: Sequence[str] = (), positive: Any = True, emit_label: bool = False,
                 validate: bool = True, buffer_size: int = 100_000, forward_labels: bool = False,
                 prediction_type: str = "prediction", source: str = "/edalab/ml/classifier",
                 version: int = 1, name: str = "classifier"):
        if not hasattr(model, "predict_proba_one") or not hasattr(model, "learn_one"):
            raise TypeError(f"model must be a river classifier (predict_proba_one and learn_one),"
                            f" got {type(model).__name__}")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"version must be an int, got {version!r}")
        if isinstance(passthrough, str):
            raise TypeError("passthrough must be a sequence of field names, not a string")
        self._model = model
        self.x = x
        self.join = join
        self.label_join = label_join
        self.label_type = label_type
        self.label_field = label_field
        self.feature_type = feature_type
        self.passthrough = tuple(passthrough)
        self.positive = positive
        self.emit_label = emit_label
        self.validate = validate
        self.buffer_size = buffer_size
        self.forward_labels = forward_labels
        self.prediction_type = prediction_type
        self.source = source
        self.version = version
        self.__name__ = name
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        self._predict = model.predict_proba_one
        self._learn = model.learn_one
        self._predictions = self._learns = 0

    def __repr__(self) -> str:
        return (f"OnlineClassifier({model_name(self.model)}, version={self.version}, "
                f"buffered={len(self.buffer)})")

    @property
    def model(self) -> Any:
        """The model in use (swap it with `replace_model`, which versions it)."""
        return self._model

    @property
    def stats(self) -> ClassifierStats:
        """Counts so far (see the class docstring for how they relate to `App` statistics)."""
        buffer = self.buffer
        return ClassifierStats(self._predictions, self._learns, buffer.unmatched,
                               buffer.evicted, len(buffer), self.version)

    def process_batch(self, events: list[Event]) -> list[Event]:
        """Each event in order, in one loop with the attributes hoisted. An event that fails
        stops the batch: after others were handled, `BatchFailure` says how many (`App`
        keeps their results and runs the rest one at a time); as the first, its own error is
        raised."""
        label_type, label_field, label_join = self.label_type, self.label_field, self.label_join
        feature_type, xf, join, positive = self.feature_type, self.x, self.join, self.positive
        forward, extras, version = self.forward_labels, self.emit_label or self.passthrough, \
            self.version
        validate, source, kind = self.validate, self.source, self.prediction_type
        labels, predict, learn = self.buffer, self._predict, self._learn
        buffer, order = labels.held, labels.order
        pop, room = buffer.pop, self.buffer_size - len(order)
        out: list[Event] = []
        emit = out.append
        predictions = learns = unmatched = i = 0
        try:
            for i, event in enumerate(events):  # noqa: B007 (i names the failing event)
                data = event.data
                type_ = event.type
                if type_ == label_type:
                    try:
                        y = data[label_field]
                        x = pop(data[label_join], None)
                    except (KeyError, TypeError):
                        raise self._label_error(event) from None
                    if x is None:
                        unmatched += 1
                    else:
                        learn(x, y)
                        learns += 1
                    if forward:
                        emit(event)
                    continue
                if feature_type is not None and type_ != feature_type:
                    emit(event)
                    continue
                try:
                    x = data[xf]
                    jid = data[join]
                    if validate:  # None or text raise TypeError; NaN or inf: s - s != 0
                        s = sum(x.values())
                        if s - s:
                            raise ValueError
                except Exception:
                    x, jid = self._checked(event)
                t0 = perf_counter()
                proba = predict(x)
                t1 = perf_counter()
                score = proba.get(positive, 0.0) if proba else None
                if extras:
                    result = self._extended(jid, score, t1 - t0, proba, event)
                else:  # read-only from birth: a broker has nothing to copy
                    result = ReadOnlyDict(id=jid, score=score, model_version=version,
                                          latency_us=(t1 - t0) * 1e6)
                buffer[jid] = x
                order.append(jid)
                room -= 1
                if room < 0:
                    labels.overflow()
                    order = labels.order
                    room = self.buffer_size - len(order)
                predictions += 1
                emit(_unchecked(kind, source, result, event.key, event.time,
                                f"prediction-{jid}"))
        except Exception as exc:
            if i == 0:
                raise
            raise BatchFailure(i, out) from exc
        finally:
            self._predictions += predictions
            self._learns += learns
            labels.unmatched += unmatched
        return out

    def _extended(self, jid: Any, score: float | None, seconds: float, proba: dict,
                  event: Event) -> ReadOnlyDict:
        """A prediction's data with the predicted label and the passthrough fields."""
        out = {"id": jid, "score": score, "model_version": self.version,
               "latency_us": seconds * 1e6}
        if self.emit_label:
            out["label"] = max(proba, key=proba.__getitem__) if proba else None
        data = event.data
        for field in self.passthrough:
            try:
                out[field] = data[field]
            except KeyError:
                raise ValueError(f"feature event {event.id!r}: passthrough field {field!r} is "
                                 f"missing from its data") from None
        return ReadOnlyDict(out)

    def _label_error(self, event: Event) -> ValueError:
        data = event.data
        if not isinstance(data, dict):
            return ValueError(f"label event {event.id!r}: data must be a dict, got "
                              f"{type(data).__name__}")
        field = self.label_field if self.label_field not in data else self.label_join
        return ValueError(f"label event {event.id!r}: field {field!r} is missing from its data")

    def _checked(self, event: Event) -> tuple[dict, Any]:
        """The slow path of a feature event that failed the fast check: name what is wrong."""
        data = event.data
        where = f"feature event {event.id!r}"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: data must be a dict, got {type(data).__name__}")
        for field in (self.x, self.join):
            if field not in data:
                raise ValueError(f"{where}: field {field!r} is missing from its data")
        x = data[self.x]
        if not self.validate:
            return x, data[self.join]
        if not isinstance(x, dict):
            raise ValueError(f"{where}: field {self.x!r} must be a dict of features, got "
                             f"{type(x).__name__}")
        for name, value in x.items():
            if value is None or isinstance(value, complex) or not isinstance(value, Real):
                raise ValueError(f"{where}: feature {self.x}.{name} must be a number, got "
                                 f"{value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{where}: feature {self.x}.{name} is {value!r} (not finite)")
        return x, data[self.join]  # finite values whose sum overflowed: fine

    def replace_model(self, model: Any, reason: str = "retrained", *,
                      time: datetime | None = None) -> Event:
        """Swap in `model` (the buffered features stay, so it learns from labels still due) and
        increment the version; returns the ``model.version`` event announcing it."""
        if not hasattr(model, "predict_proba_one") or not hasattr(model, "learn_one"):
            raise TypeError(f"model must be a river classifier, got {type(model).__name__}")
        if reason == "initial":
            raise ValueError("reason 'initial' is for the first model; use version_event()")
        self._check_reason(reason)
        self._model = model
        self._predict = model.predict_proba_one
        self._learn = model.learn_one
        self.version += 1
        return self.version_event(reason, time=time)

    def version_event(self, reason: str = "initial", *, time: datetime | None = None) -> Event:
        """The ``model.version`` event of the current model, at `time` (default: now; give the
        event time of the stream for a reproducible record)."""
        self._check_reason(reason)
        time = time or datetime.now(UTC)
        return Event("model.version", self.source,
                     {"version": self.version, "reason": reason, "model": model_name(self.model)},
                     time=time, id=f"model-version-{self.__name__}-{self.version}")

    @staticmethod
    def _check_reason(reason: str) -> None:
        if reason not in VERSION_REASONS:
            raise ValueError(f"reason must be one of {VERSION_REASONS}, got {reason!r}")


_unchecked = Event._unchecked  # events from values this operator made valid
