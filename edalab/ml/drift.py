"""`DriftMonitor`: a river drift detector on the error stream of a classifier's predictions,
and what to do when it fires (`ResetPolicy` here, `ChallengerPolicy` in `edalab.ml.champion`).

The monitor reads the in-band stream a classifier stage emits: ``prediction`` events, then,
possibly much later, the label event of each. It joins a label to its prediction by id (a
bounded `edalab.operators.LabelJoin`, like the metric operators), turns the pair into an
error, feeds the error to the detector, and emits a ``drift.detected`` event when the
detector fires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from river import drift

from edalab.events import Event
from edalab.operators.base import Operator
from edalab.operators.join import LabelJoin

__all__ = ["DriftMonitor", "DriftPolicy", "ResetPolicy"]

ERRORS = ("zero_one", "absolute")


class DriftPolicy(Protocol):
    """What a `DriftMonitor` calls after a detection: the events of its reaction."""

    def on_drift(self, event: Event) -> list[Event]: ...


def _zero_one(truth: bool, score: float, threshold: float) -> int:
    return int((score > threshold) != truth)


def _absolute(truth: bool, score: float, threshold: float) -> float:
    return abs(truth - score)


class DriftMonitor(Operator):
    """Detect concept drift in a classifier's prequential error, and react to it.

    On a prediction event (data ``{"id", "score", "model_version"}``) the score waits under
    its id; on its label event the error is computed and fed to the detector:

    - ``"zero_one"`` (default): 1 if the thresholded score (``score > threshold``) is wrong,
      else 0; suits every river detector, including the binary ones (``drift.binary.DDM``).
    - ``"absolute"``: ``|y - score|`` with y in {0, 1}: uses the score's confidence too.
    - or a function ``(y: bool, score: float) -> float``.

    A detection emits a ``drift.detected`` event (time: the label's; data ``{"detector",
    "model_version", "n" (errors seen), "reason"}``), then `policy` (if any) reacts and its
    events follow. A drift is reported only when the error went **up**: a detector that tracks
    its mean (``estimation``, as ADWIN does) must show a higher mean after the change than
    before; other detectors should be one-sided (``PageHinkley(mode="up")``, ``DDM``).

    Errors are counted per model version: when the predictions being labelled come from a newer
    model (after a reset or a promotion), the detector starts afresh (`detector_factory`) and
    labels of older versions' predictions are skipped (``stats["stale"]``), so a replaced model's
    errors never trigger a second reaction.

    Parameters
    ----------
    detector_factory
        Makes a river drift detector (default ``drift.ADWIN``).
    error
        ``"zero_one"``, ``"absolute"`` or a function (see above).
    threshold, positive
        Decision threshold for ``"zero_one"``; the label value that counts as positive.
    policy
        Called as ``policy.on_drift(drift_event)`` after each detection.
    prediction_type, label_type, label_field, label_join
        The joined events: predictions (by their ``"id"``) and labels (by `label_join`).
    buffer_size
        Most predictions waiting for their label (the oldest is dropped beyond it).
    forward_labels
        Return each label event too, after any events of its own.

    Examples
    --------
    >>> import random
    >>> from datetime import datetime, timezone
    >>> from river import drift
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> rng = random.Random(3)
    >>> op = DriftMonitor(drift.ADWIN)
    >>> out = []
    >>> for i in range(2000):  # right 95% of the time, then 60% from example 1000 on
    ...     right = rng.random() < (0.95 if i < 1000 else 0.6)
    ...     _ = op.test(Event("prediction", "/m", {"id": i, "score": 0.9, "model_version": 1},
    ...                       time=t))
    ...     out += op.test(Event("fraud.label", "/l", {"tx_id": i, "fraud": right}, time=t))
    >>> [(e.type, e.data["n"]) for e in out]
    [('drift.detected', 1056)]
    >>> op.stats["drifts"], op.stats["errors"]
    (1, 2000)
    >>> op
    DriftMonitor(ADWIN, error='zero_one', drifts=1)
    """

    def __init__(
        self,
        detector_factory: Callable[[], Any] | None = None,
        *,
        error: str | Callable[[bool, float], float] = "zero_one",
        threshold: float = 0.5,
        positive: Any = True,
        policy: DriftPolicy | None = None,
        prediction_type: str = "prediction",
        label_type: str = "fraud.label",
        label_field: str = "fraud",
        label_join: str = "tx_id",
        buffer_size: int = 100_000,
        forward_labels: bool = False,
        source: str = "/edalab/ml/drift",
        name: str = "drift_monitor",
    ) -> None:
        if isinstance(error, str):
            if error not in ERRORS:
                raise ValueError(f"error must be one of {ERRORS} or a function, got {error!r}")
            self._error = _zero_one if error == "zero_one" else _absolute
        elif callable(error):
            fn = error
            self._error = lambda truth, score, threshold: fn(truth, score)
        else:
            raise TypeError(f"error must be one of {ERRORS} or a function, got {error!r}")
        self.buffer = LabelJoin(buffer_size, label_join=label_join, label_field=label_field)
        if policy is not None and not callable(getattr(policy, "on_drift", None)):
            raise TypeError("policy must have an on_drift(event) method")
        self.detector_factory = detector_factory or drift.ADWIN
        self.error = error
        self.threshold = threshold
        self.positive = positive
        self.policy = policy
        self.prediction_type = prediction_type
        self.label_type = label_type
        self.label_field = label_field
        self.label_join = label_join
        self.buffer_size = buffer_size
        self.forward_labels = forward_labels
        self.source = source
        self.__name__ = name
        self.detector = self._new_detector()
        self.model_version: int | None = None  # the version whose errors the detector sees
        self._errors = self._drifts = self._stale = 0
        self._reactions = 0
        self.detections: list[int] = []  # `n` at each detection

    def __repr__(self) -> str:
        return (f"DriftMonitor({type(self.detector).__name__}, error={self.error!r}, "
                f"drifts={self._drifts})")

    def _new_detector(self) -> Any:
        detector = self.detector_factory()
        if not hasattr(detector, "update") or not hasattr(detector, "drift_detected"):
            raise TypeError(f"detector_factory must make a river drift detector, got "
                            f"{type(detector).__name__}")
        self._update = detector.update
        self._tracks_mean = hasattr(detector, "estimation")
        return detector

    @property
    def stats(self) -> dict[str, Any]:
        """Errors fed, drifts detected, policy reactions, stale labels, the join's counters
        (unmatched, evicted, pending) and the model version watched (None before any)."""
        buffer = self.buffer
        return {"errors": self._errors, "drifts": self._drifts, "reactions": self._reactions,
                "stale": self._stale, "unmatched": buffer.unmatched, "evicted": buffer.evicted,
                "pending": len(buffer), "model_version": self.model_version}

    def process(self, event: Event) -> list[Event]:
        etype = event.type
        if etype == self.prediction_type:
            data = event.data
            try:
                held = (data["score"], data.get("model_version"))
                self.buffer.hold(data["id"], held)
            except (KeyError, TypeError, AttributeError):
                raise ValueError(f"prediction {event.id!r}: data needs 'id' and 'score'") from None
            return []
        if etype != self.label_type:
            return []
        held, y = self.buffer.label(event)
        forward = [event] if self.forward_labels else []
        if held is None:
            return forward
        score, version = held
        if score is None:
            return forward
        if version is not None and version != self.model_version:
            if self.model_version is not None and version < self.model_version:
                self._stale += 1
                return forward
            if self.model_version is not None:  # a newer model: its own error stream
                self.detector = self._new_detector()
            self.model_version = version
        err = self._error(y == self.positive, score, self.threshold)
        self._errors += 1
        detector = self.detector
        before = detector.estimation if self._tracks_mean else 0.0
        self._update(err)
        if not detector.drift_detected or (self._tracks_mean and detector.estimation <= before):
            return forward
        return self._detected(event.time, before) + forward

    def _detected(self, time: Any, before: float) -> list[Event]:
        self._drifts += 1
        self.detections.append(self._errors)
        name = type(self.detector).__name__
        kind = self.error if isinstance(self.error, str) else "custom"
        reason = f"{name} found the {kind} error rising"
        if self._tracks_mean:
            reason += f" ({before:.3f} -> {self.detector.estimation:.3f})"
        event = Event("drift.detected", self.source,
                      {"detector": name, "model_version": self.model_version, "n": self._errors,
                       "reason": reason},
                      time=time, id=f"drift-{self.__name__}-{self._errors}")
        out = [event]
        if self.policy is not None:
            reaction = list(self.policy.on_drift(event))
            if reaction:
                self._reactions += 1
            for e in reaction:
                if e.type == "model.version":  # the old model's labels are stale from now on
                    self.model_version = e.data["version"]
                    self.detector = self._new_detector()
            out += reaction
        return out



class ResetPolicy:
    """React to drift by replacing the classifier's model with a fresh one.

    Parameters
    ----------
    classifier
        An `OnlineClassifier` (anything with ``replace_model(model, reason, time=...)``).
    model_factory
        Makes the fresh model.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from river import linear_model
    >>> from edalab.ml.classifier import OnlineClassifier
    >>> clf = OnlineClassifier(linear_model.LogisticRegression())
    >>> policy = ResetPolicy(clf, linear_model.LogisticRegression)
    >>> drift_event = Event("drift.detected", "/d", {}, time=datetime(2024, 1, 1,
    ...                                                                tzinfo=timezone.utc))
    >>> [e.data for e in policy.on_drift(drift_event)]
    [{'version': 2, 'reason': 'reset', 'model': 'LogisticRegression'}]
    >>> policy.resets
    1
    """

    def __init__(self, classifier: Any, model_factory: Callable[[], Any]) -> None:
        if not callable(getattr(classifier, "replace_model", None)):
            raise TypeError("classifier must have replace_model(model, reason)")
        self.classifier = classifier
        self.model_factory = model_factory
        self.resets = 0

    def __repr__(self) -> str:
        return f"ResetPolicy(resets={self.resets})"

    @property
    def stats(self) -> dict[str, int]:
        """Resets done."""
        return {"resets": self.resets}

    def on_drift(self, event: Event) -> list[Event]:
        """Replace the model; the ``model.version`` event announcing it."""
        self.resets += 1
        return [self.classifier.replace_model(self.model_factory(), "reset", time=event.time)]
