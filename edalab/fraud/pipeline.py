"""`FraudPipeline`: event-driven card-fraud detection, end to end, on any edalab broker.

::

    payments ──▶ features ──▶ features ──▶ classifier ──▶ predictions ──▶ decide  ──▶ decisions
    (card.transaction +       (FraudFeatures)  (OnlineClassifier,       ├──▶ metrics ──▶ metrics
     fraud.label, in-band,                      or PeriodicRetrainer)   └──▶ drift   ──▶ models
     keyed by customer)                                   └──▶ models (model.version)

Transactions and their labels (each `delay` after its transaction) share the input topic, merged
in event-time order, and every stage forwards the labels after its own events: a stage sees a
transaction, then later its label, in log order on every broker. The classifier predicts before
it learns (labels are days late), the metric operators join each label to the prediction made
before it, and the decisions (approve, review, block by score thresholds; abstain while the
model has learned no label yet) carry their end-to-end latency.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from river import metrics as river_metrics

from edalab.brokers.base import Broker
from edalab.durations import duration_text, parse_duration
from edalab.events import Event
from edalab.fraud.features import FraudFeatures
from edalab.fraud.handbook import handbook_metrics, train_test_split
from edalab.fraud.metrics_stage import MetricsStage
from edalab.fraud.models import make_model
from edalab.ml.classifier import OnlineClassifier
from edalab.ml.metrics import AveragePrecision, CardPrecisionAtK, PrequentialMetrics
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats
from edalab.state import State
from edalab.streams.frames import events_frame
from edalab.streams.sized import sized
from edalab.streams.transactions import label_events, transaction_events

__all__ = ["FraudPipeline", "FraudProgress"]

_PREDICTION_COLUMNS = ["tx_id", "time", "customer_id", "day", "score", "model_version",
                       "latency_us"]
_DECISION_COLUMNS = ["time", "tx_id", "customer_id", "score", "decision", "latency_ms"]

#: Columns of the transaction events (the fraud label is not among them: it arrives later).
TX_FIELDS = ["TX_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_DAYS"]
_SOURCE = "/edalab/fraud/pipeline"


@dataclass
class FraudProgress:
    """What `FraudPipeline.stream` yields: the run so far and the events new since the last."""

    stats: RunStats
    metrics: list[Event] = field(default_factory=list)
    decisions: list[Event] = field(default_factory=list)
    predictions: list[Event] = field(default_factory=list)
    models: list[Event] = field(default_factory=list)  # model.version and drift.detected


class FraudPipeline:
    """The fraud-detection pipeline, as an `App`: feed it transactions, run it, read the
    results (`predictions`, `decisions`, `metrics`, `models`), as `edalab.health.WardMonitor`.

    Parameters
    ----------
    model
        A name of `MODELS` (see `make_model`) or any river classifier.
    delay
        Label delay; also the delay D of the terminal-risk features.
    review, block
        Score thresholds of the decisions: ``block`` at or above `block`, ``review`` at or
        above `review`, else ``approve`` (a prediction with no score yet is approved).
    warmup
        Labels the model must have learned before its scores drive decisions; until then a
        transaction's decision is ``abstain``: no review, no block, as with no model (else
        the cold-start week all goes to review: an untrained LR scores 0.5, the review
        threshold). Labels are counted as they reach ``decide``, in log order after the
        predictions made before they were learned: the model's count on every broker.
    broker, partitions
        The broker (default: a new `MemoryBroker`) and the partitions of the topics the
        pipeline creates.
    seed
        Seeds the named models.
    drift
        None, ``"reset"`` (a `DriftMonitor` on the prediction errors that resets the model) or
        ``"challenger"`` (champion/challenger trials, `ChallengerPolicy`).
    retrain
        Options of the `PeriodicRetrainer` when ``model="retrain"``.
    metrics_every, k
        Emit the prequential metrics every this many labels; cards a day of CP@k.
    shadows
        More models (names or ``{name: river model}``) scoring the same feature events, each
        in its own consumer group: models compared on the same events in one run. Their
        scores stay in the process (`shadow_predictions`, `test_week(name)`); they drive no
        decisions or metrics.
    max_in_flight
        Most transactions timed for their decision latency at once (taken from the source,
        not decided yet). Past it the oldest is forgotten (its decision's latency is None),
        counted in ``buffer_stats["in_flight_evicted"]``: a transaction that never gets a
        decision (dead-lettered on the way) leaves nothing behind for good.
    state
        Keep the features' windows in `edalab.state` (True, or a `State` with its backend):
        one state per partition of ``payments``, checkpointed with its offset and restored
        where the partition goes. On one partition the features are the same; on several,
        a terminal's windows count the transactions of its partition only (as every
        worker of a partitioned deployment sees them).

    Notes
    -----
    Decision latency is wall time, in-process: from the moment the App takes the transaction
    from its source (to publish it) to the moment ``decide`` handles its prediction: broker,
    features and classifier included (read it with ``clock="wall"``; on virtual time the
    batching of the run loop dominates it).

    Examples
    --------
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=50, terminals=100, days=20, seed=3)
    >>> pipe = FraudPipeline(model="lr").feed(df)
    >>> stats = pipe.run()
    >>> stats.to_frame()[["events_in", "events_out", "dead_letters"]].loc["features"].tolist()
    [2532, 2532, 0]
    >>> pipe.decisions().decision.value_counts().to_dict()  # no label learned yet: abstain
    {'approve': 629, 'abstain': 451, 'review': 179, 'block': 7}
    """

    def __init__(self, *, model: Any = "lr", delay: Any = "7D",
                 review: float = 0.5, block: float = 0.9, warmup: int = 1,
                 broker: Broker | None = None,
                 partitions: int = 1, seed: int = 0, drift: str | None = None,
                 retrain: dict | None = None, metrics_every: int = 5000, k: int = 100,
                 shadows: Any = (), max_in_flight: int = 100_000,
                 state: bool | State = False):
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) \
                or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        self.df: pd.DataFrame | None = None
        self.delay = parse_duration(delay, name="delay", allow_zero=True)
        self._review: float  # set, with _block, by set_threshold
        self._block: float
        self.set_threshold(review=review, block=block)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an int >= 0 (labels), got {warmup!r}")
        self.warmup = warmup
        self._labels_decided = 0  # labels that reached the decide stage
        self.model_name = model if isinstance(model, str) else type(model).__name__
        river_model = make_model(model, seed) if isinstance(model, str) else model
        self.app = app = App(broker, partitions=partitions)
        self.features = FraudFeatures(self.delay)
        self.classifier = OnlineClassifier(river_model, passthrough=("customer_id", "day"),
                                           forward_labels=True, name="classifier")
        stage: Any = self.classifier
        self.retrainer = None
        if model == "retrain":
            from edalab.fraud.retrain import PeriodicRetrainer

            stage = self.retrainer = PeriodicRetrainer(self.classifier, seed=seed,
                                                       **(retrain or {}))
        self.prequential = PrequentialMetrics(
            {"roc_auc": river_metrics.ROCAUC(n_thresholds=50),
             "average_precision": AveragePrecision(window_size=20_000)}, every=metrics_every)
        self.card_precision = CardPrecisionAtK(k, delay=self.delay)
        # What each step made, for the next FraudProgress (kept only while `stream` has a reader
        # stepping it: `run` keeps none); and the whole run: predictions and decisions as
        # rows of their frames (a third of an event's memory), the rare others as events.
        self._new: dict[str, list[Event]] = {"metrics": [], "decisions": [], "predictions": [],
                                             "models": []}
        self._keep_new = True
        self._prediction_rows: list[tuple] = []
        self._decision_rows: list[tuple] = []
        self._all: dict[str, list[Event]] = {"metrics": [], "models": []}
        self.max_in_flight = max_in_flight
        self._entered: OrderedDict[Any, float] = OrderedDict()  # tx id -> source time
        self._in_flight_evicted = 0
        collect = self._collect

        app.handler("payments", group="features", output="features",
                    state=state)(self.features)

        def classifier(event: Event) -> Any:
            out = stage(event)
            if out is not None:
                for e in (out,) if isinstance(out, Event) else out:
                    if e.type != "fraud.label":
                        collect("models" if e.type == "model.version" else "predictions", e)
            return out

        app.handler("features", group="classifier", output=_route)(classifier)
        def decide(event: Event) -> Event | None:
            return self._decide(event)

        app.handler("predictions", group="decide", output="decisions")(decide)
        # The metrics stage flushes the last CP@k days when the App's sources drain.
        self.metrics_stage = MetricsStage([self.prequential, self.card_precision],
                                          lambda e: collect("metrics", e))
        app.handler("predictions", group="metrics", output="metrics")(self.metrics_stage)
        self.shadows: dict[str, OnlineClassifier] = {}
        self._shadow_predictions: dict[str, list[tuple[Any, float]]] = {}
        if not isinstance(shadows, dict):
            shadows = {name: make_model(name, seed) for name in shadows}
        for name, shadow_model in shadows.items():
            self._add_shadow(name, shadow_model)
        self.monitor = None
        if drift is not None:
            self.monitor = self._drift_monitor(drift, model, seed)

    def __repr__(self) -> str:
        fed = "not fed" if self.df is None else f"transactions={len(self.df):,}"
        return (f"FraudPipeline(model={self.model_name!r}, delay={duration_text(self.delay)}, "
                f"{fed})")

    def feed(self, df: pd.DataFrame) -> FraudPipeline:
        """Give the pipeline its transactions, as `edalab.streams.transactions` returns them
        (the labels come from ``TX_FRAUD``, as ``fraud.label`` events `delay` after each
        transaction). A pipeline is fed one frame. Returns the pipeline."""
        if self.df is not None:
            raise ValueError("this FraudPipeline was already fed a transactions frame; "
                             "build a new pipeline for another")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"feed takes a transactions DataFrame, got {type(df).__name__}")
        self.df = df
        first = pd.Timestamp(df["TX_DATETIME"].min()) if len(df) else None
        if first is not None:
            first = (first.tz_localize("UTC") if first.tz is None else first).to_pydatetime()
        self._collect("models", self.classifier.version_event("initial", time=first))
        # Labels first: a label and a transaction of the same instant arrive in that order,
        # as the handbook's windows count a transaction exactly D old.
        # Sized: the run's progress bar then has a total (a percentage and an ETA).
        self.app.source("payments", sized(label_events(df, delay=self.delay), len(df)))
        self.app.source("payments", sized(self._timed(transaction_events(df[TX_FIELDS])),
                                          len(df)))
        return self

    # -- stages -----------------------------------------------------------------------------

    def _timed(self, events: Iterator[Event]) -> Iterator[Event]:
        entered, clock, cap = self._entered, time.perf_counter, self.max_in_flight
        for e in events:
            entered[e.data["TX_ID"]] = clock()
            if len(entered) > cap:
                entered.popitem(last=False)
                self._in_flight_evicted += 1
            yield e

    def _collect(self, kind: str, event: Event) -> None:
        if self._keep_new:
            self._new[kind].append(event)
        if kind == "predictions":
            d = event.data
            self._prediction_rows.append((d["id"], event.time, d.get("customer_id"),
                                          d.get("day"), d["score"], d["model_version"],
                                          d["latency_us"]))
        elif kind == "decisions":
            d = event.data
            self._decision_rows.append((event.time, d["tx_id"], d["customer_id"], d["score"],
                                        d["decision"], d["latency_ms"]))
        else:
            self._all[kind].append(event)

    def _decide(self, event: Event) -> Event | None:
        if event.type != "prediction":
            if event.type == "fraud.label":
                self._labels_decided += 1
            return None
        data = event.data
        score = data["score"]
        if self._labels_decided < self.warmup:
            decision = "abstain"
        elif score is None or score < self._review:
            decision = "approve"
        elif score < self._block:
            decision = "review"
        else:
            decision = "block"
        started = self._entered.pop(data["id"], None)
        latency = (time.perf_counter() - started) * 1e3 if started is not None else None
        out = Event("fraud.decision", _SOURCE,
                    {"tx_id": data["id"], "customer_id": data.get("customer_id"),
                     "score": score, "decision": decision, "latency_ms": latency},
                    key=event.key, time=event.time, id=f"decision-{data['id']}")
        self._collect("decisions", out)
        return out

    def _add_shadow(self, name: str, model: Any) -> None:
        op = self.shadows[name] = OnlineClassifier(model, passthrough=("customer_id", "day"),
                                                   forward_labels=False, name=f"shadow-{name}")
        sink = self._shadow_predictions[name] = []
        keep = sink.append

        def shadow(event: Event) -> None:
            out = op(event)
            if out is not None:
                data = out.data  # type: ignore[union-attr]  # one event in, one out
                keep((data["id"], data["score"]))

        shadow.__name__ = f"shadow-{name}"
        self.app.handler("features", group=f"shadow-{name}")(shadow)

    def _drift_monitor(self, kind: str, model: Any, seed: int) -> Any:
        from river import drift as river_drift

        from edalab.ml.drift import DriftMonitor, ResetPolicy

        def fresh() -> Any:
            return make_model(model if isinstance(model, str) else "lr", seed)

        if kind == "reset":
            policy: Any = ResetPolicy(self.classifier, fresh)
        elif kind == "challenger":
            from edalab.ml.champion import ChallengerPolicy

            policy = ChallengerPolicy(self.classifier, fresh, warm_start=5000)
            self.app.handler("features", group="challenger", output="models")(policy)
        else:
            raise ValueError(f"drift must be None, 'reset' or 'challenger', got {kind!r}")
        monitor = DriftMonitor(lambda: river_drift.PageHinkley(mode="up"), policy=policy)
        collect = self._collect

        def drift(event: Event) -> Any:
            out = monitor(event)
            for e in (out,) if isinstance(out, Event) else out or ():
                collect("models", e)
            return out

        self.app.handler("predictions", group="drift", output="models")(drift)
        return monitor

    # -- running ----------------------------------------------------------------------------

    def set_threshold(self, review: float | None = None, block: float | None = None) -> None:
        """Change the decision thresholds; the next predictions decided use them."""
        review = self._review if review is None else review
        block = self._block if block is None else block
        if not 0 <= review <= block <= 1:
            raise ValueError(f"need 0 <= review <= block <= 1, got review={review}, "
                             f"block={block}")
        self._review, self._block = float(review), float(block)

    @property
    def buffer_stats(self) -> dict[str, int]:
        """Transactions timed and not decided yet, and those forgotten past `max_in_flight`."""
        return {"in_flight": len(self._entered), "in_flight_evicted": self._in_flight_evicted}

    @property
    def thresholds(self) -> dict[str, float]:
        """The decision thresholds now: ``{"review": ..., "block": ...}``."""
        return {"review": self._review, "block": self._block}

    def stream(self, every: int | None = 10_000, *, clock: str = "virtual",
               batch_size: int = 1000, progress: bool = False) -> Iterator[FraudProgress]:
        """Run the pipeline, yielding a `FraudProgress` about every `every` source events (and
        once at the end, after the App's end-of-stream flush has closed the open CP@k days).
        With ``every=None`` (what `run` does) there is one snapshot and it holds no events:
        read the results from `predictions`, `decisions`, `metrics` and `models`."""
        if self.df is None:
            raise ValueError("the pipeline has no transactions: call feed(df) first")
        self._keep_new = every is not None
        for stats in self.app.stream(every=every, clock=clock, batch_size=batch_size,
                                     progress=progress):
            yield self._snapshot(stats)

    def run(self, *, clock: str = "virtual", batch_size: int = 1000,
            progress: bool = False) -> RunStats:
        """Run the pipeline to the end of the stream; the run statistics."""
        *_, last = self.stream(every=None, clock=clock, batch_size=batch_size,
                               progress=progress)
        return last.stats

    def _snapshot(self, stats: RunStats) -> FraudProgress:
        new = self._new
        self._new = {name: [] for name in new}
        return FraudProgress(stats, new["metrics"], new["decisions"], new["predictions"],
                        new["models"])

    # -- results ----------------------------------------------------------------------------

    def predictions(self) -> pd.DataFrame:
        """One row per prediction: tx_id, time, customer_id, day, score, model_version,
        latency_us."""
        return pd.DataFrame(self._prediction_rows, columns=_PREDICTION_COLUMNS)

    def shadow_predictions(self, name: str) -> pd.DataFrame:
        """The scores of the shadow model `name`: columns tx_id, score."""
        if name not in self._shadow_predictions:
            raise ValueError(f"no shadow model {name!r}; shadows are {list(self.shadows)}")
        return pd.DataFrame(self._shadow_predictions[name], columns=["tx_id", "score"])

    def decisions(self) -> pd.DataFrame:
        """One row per decision: tx_id, time, customer_id, score, decision, latency_ms."""
        return pd.DataFrame(self._decision_rows, columns=_DECISION_COLUMNS)

    def metrics(self) -> pd.DataFrame:
        """One row per metric event: time, name, value, n, model_version, day."""
        fields = ["name", "value", "n", "model_version", "day"]
        return events_frame(self._all["metrics"], fields)[["time", *fields]]

    def models(self) -> pd.DataFrame:
        """The model.version and drift.detected events: time, type, and their data."""
        return events_frame(self._all["models"]).drop(columns=["id", "key"])

    def test_week(self, shadow: str | None = None, *, features: pd.DataFrame | None = None,
                  **split: Any) -> dict[str, float]:
        """The handbook's test-week metrics of this pipeline's predictions, or of the shadow
        model `shadow` (the test set of `train_test_split` with the same arguments, which the
        batch baseline uses too; `features` spares recomputing the batch features)."""
        if self.df is None:
            raise ValueError("the pipeline has no transactions: call feed(df) first")
        _, test = train_test_split(self.df, features, **split)
        frame = self.predictions() if shadow is None else self.shadow_predictions(shadow)
        scores = frame.set_index("tx_id")["score"]
        missing = ~test["TX_ID"].isin(scores.index)
        if missing.any():
            raise ValueError(f"test_week: {int(missing.sum())} test transactions have no "
                             "prediction (dead-lettered or not run yet)")
        return handbook_metrics(test, scores.reindex(test["TX_ID"]).fillna(0.0).to_numpy())


def _route(event: Event) -> str:
    return "models" if event.type == "model.version" else "predictions"
