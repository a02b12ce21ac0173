"""Progressive validation through an edalab pipeline, and what the pipeline costs.

`progressive_score` is river's `evaluate.progressive_val_score` run as events: each example
becomes a feature event and, right after it, its label event (in-band, delay 0) on a broker; an
`OnlineClassifier` and a `PrequentialMetrics` operator run as `App` handlers. The result is
river's, to the last digit, which is what shows the pipeline changes nothing.
`operator_overhead` measures the other side: how much slower predict+learn is through `App`
and the operator than a bare river loop on the same events.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from edalab.brokers.base import Broker
from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.ml.classifier import OnlineClassifier
from edalab.ml.metrics import PrequentialMetrics
from edalab.runtime.app import App

__all__ = ["dataset_events", "operator_overhead", "progressive_score"]

START = datetime(2000, 1, 1, tzinfo=UTC)
SOURCE = "/edalab/ml/progressive"
#: How `dataset_events` lays out its events: the options an `OnlineClassifier` reads them with.
EVENT_FIELDS: dict[str, Any] = {"x": "x", "join": "id", "label_join": "id", "label_type": "label",
                "label_field": "y", "feature_type": "features"}


def dataset_events(dataset: Iterable, *, start: datetime = START,
                   step: timedelta = timedelta(seconds=1), key: str = "0") -> list[Event]:
    """A river dataset (``(x, y)`` pairs) as events: for example i, a ``features`` event
    ``{"id": i, "x": x}`` then a ``label`` event ``{"id": i, "y": y}``, both at
    ``start + i * step``, all with one key (so one partition keeps their order).

    >>> for e in dataset_events([({"a": 1.0}, True)]):
    ...     print(e.type, e.id, e.data)
    features features-0 {'id': 0, 'x': {'a': 1.0}}
    label label-0 {'id': 0, 'y': True}
    """
    events = []
    for i, (x, y, *_) in enumerate(dataset):
        t = start + i * step
        events.append(Event("features", SOURCE, {"id": i, "x": x}, key=key, time=t,
                            id=f"features-{i}"))
        events.append(Event("label", SOURCE, {"id": i, "y": y}, key=key, time=t,
                            id=f"label-{i}"))
    return events


def progressive_score(dataset: Iterable, model: Any,
                      metrics: Mapping[str, Any] | Iterable[Any] | Any, *,
                      broker: Broker | None = None, topic: str = "progressive",
                      batch_size: int = 1000) -> dict[str, float]:
    """river's progressive validation (predict, score, then learn each example) through an
    `App` on `broker`: returns the final value of each metric.

    Parameters
    ----------
    dataset
        ``(x, y)`` pairs, e.g. a `river.datasets` data set. On a networked broker the features
        must survive JSON (numbers, strings, booleans).
    model
        A river classifier or pipeline (it learns in place).
    metrics
        ``{name: river metric}``, or river metrics (named by class).
    broker
        Default: a new `MemoryBroker`. Topics ``<topic>.features``, ``<topic>.predictions``
        and ``<topic>.metrics`` are created on it.

    Examples
    --------
    >>> from river import datasets, linear_model, metrics, preprocessing
    >>> model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    >>> scores = progressive_score(datasets.Phishing().take(200), model,  # river: 90.20%
    ...                            {"auc": metrics.ROCAUC(), "acc": metrics.Accuracy()})
    >>> {name: f"{value:.2%}" for name, value in scores.items()}
    {'auc': '90.20%', 'acc': '84.00%'}
    """
    scorer = PrequentialMetrics(metrics, every=None, label_type="label", label_field="y",
                                label_join="id", name="metrics")
    emit_label = any(getattr(m, "requires_labels", False) for m in scorer.metrics.values())
    classifier = OnlineClassifier(model, **EVENT_FIELDS, emit_label=emit_label,
                                  forward_labels=True, name="classifier")
    app = App(broker)
    app.handler(f"{topic}.features", output=f"{topic}.predictions", batch=True)(classifier)
    app.handler(f"{topic}.predictions", output=f"{topic}.metrics")(scorer)
    app.source(f"{topic}.features", dataset_events(dataset))
    stats = app.run(batch_size=batch_size)
    if stats.dead_letters:
        raise RuntimeError(f"{stats.dead_letters} events were dead-lettered: {stats}")
    return scorer.values()


def operator_overhead(model_factory: Callable[[], Any], events: list[Event], *,
                      repeats: int = 5, batch_size: int = 1000, segment: int = 200,
                      clock: str = "process", **options: Any) -> dict[str, Any]:
    """Time predict+learn on `events` two ways, paired: a bare river loop and an `App` on a
    `MemoryBroker` running an `OnlineClassifier` (its source publish, polls, acks and the
    predictions and labels it emits included).

    The river loop is what one writes for delayed labels without edalab (river's
    ``progressive_val_score`` with a delay does the same): for each event in order, a feature
    event's ``x`` is predicted (``model.predict_proba_one(x)``) and kept by its join id, a
    label event's kept ``x`` is learnt (``model.learn_one(x, y)``). Both paths run in one App
    run, interleaved every `segment` events: the App's batch handler runs the river loop on a
    segment, then the operator on the same segment (which goes first alternates), and the
    river loop's time is taken out of the run's. A machine shared with other work changes
    speed within seconds; pairs a few milliseconds apart see the same machine.

    Parameters
    ----------
    model_factory
        Makes a fresh model for each path and run
        (``lambda: StandardScaler() | LogisticRegression()``).
    events
        Feature and label events, in-band, in order (e.g. `dataset_events`, or the fraud
        pipeline's ``fraud.features`` and ``fraud.label`` events).
    repeats
        Runs; the result is their median.
    batch_size
        The App's poll batch.
    segment
        Events per pair of timed river-loop and operator calls.
    clock
        ``"process"``: this process's CPU seconds (steady on a machine shared with other
        work; both paths run in this one thread); ``"wall"``: elapsed seconds.
    options
        `OnlineClassifier` options saying how to read `events` (`x`, `join`, `label_type`...).

    Returns
    -------
    dict
        ``examples`` (labelled predictions); ``raw_us`` and ``operator_us``: median
        microseconds per example (one predict and one learn); ``overhead``: the median over
        runs of operator time / river-loop time - 1; ``operator_alone``: the same for the
        operator's calls alone (without the App and broker around them); ``overhead_us``;
        ``clock``; ``segment``;
        the per-run seconds in ``raw_runs`` and ``operator_runs``.

    Examples
    --------
    >>> from river import linear_model
    >>> events = dataset_events(({"a": float(i % 3)}, i % 2 == 0) for i in range(50))
    >>> result = operator_overhead(linear_model.LogisticRegression, events, repeats=1,
    ...                            **EVENT_FIELDS)
    >>> result["examples"], result["clock"], len(result["raw_runs"])
    (50, 'process', 1)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if segment < 1:
        raise ValueError(f"segment must be >= 1, got {segment}")
    if clock not in ("process", "wall"):
        raise ValueError(f"clock must be 'process' or 'wall', got {clock!r}")
    timer = time.process_time if clock == "process" else time.perf_counter
    reader = OnlineClassifier(model_factory(), **options)

    def paired_run() -> tuple[float, float, float, int]:
        op = OnlineClassifier(model_factory(), **options)
        river_loop = _RiverLoop(model_factory(), reader)
        raw_time = op_time = 0.0
        flip = False

        def classifier(batch: list[Event]) -> list[Event]:
            nonlocal raw_time, op_time, flip
            out: list[Event] = []
            for i in range(0, len(batch), segment):
                part = batch[i:i + segment]
                flip = not flip
                if flip:
                    t0 = timer()
                    out += op(part)  # type: ignore[arg-type]  # a list in, a list out
                    op_time += timer() - t0
                t0 = timer()
                river_loop(part)
                raw_time += timer() - t0
                if not flip:
                    t0 = timer()
                    out += op(part)  # type: ignore[arg-type]  # a list in, a list out
                    op_time += timer() - t0
            return out

        # A pipeline's broker holds what is in flight (retention), not the whole run: the
        # river loop holds nothing either, and a log of every event costs garbage collection.
        app = App(MemoryBroker(retain=batch_size))
        app.handler("features", output="predictions", batch=True)(classifier)
        app.source("features", events)
        gc.collect()
        t0 = timer()
        app.run(batch_size=batch_size)
        elapsed = timer() - t0
        n = river_loop.learns
        if not n:
            raise ValueError("events hold no feature event followed by its label")
        if op.stats.learns != n:
            raise RuntimeError(f"the operator learnt {op.stats.learns} of {n} labels")
        return raw_time, elapsed - raw_time, op_time, n

    gc.freeze()  # what exists now is never collected: gc.collect() before each run is cheap
    try:
        runs = [paired_run() for _ in range(repeats)]
    finally:
        gc.unfreeze()
    raw_runs, operator_runs = [r[0] for r in runs], [r[1] for r in runs]
    n = runs[0][3]
    raw_us = statistics.median(raw_runs) / n * 1e6
    operator_us = statistics.median(operator_runs) / n * 1e6
    return {
        "examples": n, "raw_us": raw_us, "operator_us": operator_us,
        "overhead": statistics.median(o / r for r, o, _, _ in runs) - 1,
        "operator_alone": statistics.median(a / r for r, _, a, _ in runs) - 1,
        "overhead_us": operator_us - raw_us, "raw_runs": raw_runs,
        "operator_runs": operator_runs, "clock": clock, "segment": segment,
    }


class _RiverLoop:
    """The bare river loop on events, a segment per call: predict on a feature event, learn
    when its label event comes (`learns` counts the examples)."""

    def __init__(self, model: Any, reader: OnlineClassifier):
        self.predict, self.learn = model.predict_proba_one, model.learn_one
        self.reader = reader
        self.waiting: dict = {}
        self.learns = 0

    def __call__(self, events: list[Event]) -> None:
        r = self.reader
        label_type, label_field, label_join = r.label_type, r.label_field, r.label_join
        feature_type, xf, join = r.feature_type, r.x, r.join
        predict, learn, waiting = self.predict, self.learn, self.waiting
        pop = waiting.pop
        learns = 0
        for e in events:
            data = e.data
            if e.type == label_type:
                x = pop(data[label_join], None)
                if x is not None:
                    learn(x, data[label_field])
                    learns += 1
            elif feature_type is None or e.type == feature_type:
                x = data[xf]
                predict(x)
                waiting[data[join]] = x
        self.learns += learns
