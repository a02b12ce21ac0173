"""The classifier path of `edalab bench fraud` against the peers a user would pick for the
same job: the same river model predicting on each feature event and learning when its delayed
label comes, on the same events, in the same run, in the bare river loop, bytewax, streamz and
edalab (see `peers`).

Where edalab's extra time goes, per prediction, on top of river's predict and learn (about
19 us a prediction here; minima of 11 runs of 30,000 predictions, operator variants with a
part removed): timing the predict 0.1 us, the read-only prediction dict 0.3-0.6, the event and
its id 0.3-0.9, keeping the predictions in the topic 0.5 (the same with the garbage
collector off: memory, not collection), the publish's JSON proof 0.3. bytewax's own cost is
a call from Rust into Python and a tuple per event, so the two come out within a few per
cent of each other."""

from __future__ import annotations

import gc
import heapq
import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

from edalab.brokers.memory import MemoryBroker
from edalab.events import Event
from edalab.fraud.features import FraudFeatures
from edalab.fraud.pipeline import make_model
from edalab.ml.classifier import OnlineClassifier
from edalab.runtime.app import App
from edalab.streams.transactions import label_events, transaction_events

__all__ = ["classifier_events", "peers", "print_peers"]

# Each contender takes the events and a fresh model, predicts on every fraud.features event
# (the score: P(fraud)), keeps its features by tx_id, and learns them when the label comes.
LABEL, JOIN = "fraud.label", "tx_id"  # any other event is a feature event
#: Targets of the peers comparison: edalab's overhead over the bare loop (and the goal).
PEER_OVERHEAD_TARGET, PEER_OVERHEAD_GOAL = 0.15, 0.10


def classifier_events(df: Any, n: int) -> list[Event]:
    """The classifier stage's input for `n` transactions taken evenly over the whole of `df`:
    their ``fraud.features`` and ``fraud.label`` events (a label comes 7 days after its
    transaction) in event-time order, so labels come between predictions and the model learns
    while it predicts."""
    sample = df.iloc[::max(1, len(df) // n)].head(n)
    features = FraudFeatures()
    return [out for e in heapq.merge(label_events(sample), transaction_events(sample),
                                     key=lambda e: e.time) for out in features.process(e)]


Scores = Callable[[], list]  # what a contender gives: its scores, read after the timing


def _classify_step(model: Any) -> Callable[[Event], float | None]:
    """One event of the river loop: a feature event's score, or None for a label event."""
    predict, learn = model.predict_proba_one, model.learn_one
    waiting: dict = {}
    pop = waiting.pop

    def step(event: Event) -> float | None:
        data = event.data
        if event.type == LABEL:
            x = pop(data[JOIN], None)
            if x is not None:
                learn(x, data["fraud"])
            return None
        x = data["x"]
        proba = predict(x)
        waiting[data[JOIN]] = x
        return proba.get(True, 0.0) if proba else None
    return step


def _feature_scores(events: list[Event], outputs: list) -> list[float | None]:
    return [score for e, score in zip(events, outputs, strict=True) if e.type != LABEL]


def raw_river(events: list[Event], model: Any) -> Scores:
    """The bare river loop (`edalab.ml.progressive`'s, keeping each score): the floor."""
    predict, learn = model.predict_proba_one, model.learn_one
    waiting: dict = {}
    pop = waiting.pop
    scores: list[float | None] = []
    keep = scores.append
    for e in events:
        data = e.data
        if e.type == LABEL:
            x = pop(data[JOIN], None)
            if x is not None:
                learn(x, data["fraud"])
        else:
            x = data["x"]
            proba = predict(x)
            waiting[data[JOIN]] = x
            keep(proba.get(True, 0.0) if proba else None)
    return lambda: scores


def bytewax_classifier(events: list[Event], model: Any, batch: int) -> Callable[[], Scores]:
    """bytewax: one key, a `stateful_map` whose state is the model and its waiting features;
    it emits each event's score (None for a label) to a `TestingSink`. Returns the timed part:
    running the dataflow (built here, before the clock starts)."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    step = _classify_step(model)

    def mapper(state: Any, event: Event) -> tuple[Any, float | None]:
        return True, step(event)  # the model lives in `step`; the state only marks the key

    out: list = []
    flow = Dataflow("classifier")
    stream = op.input("events", flow, TestingSource(events, batch_size=batch))
    keyed = op.key_on("one-model", stream, lambda e: "all")
    op.output("scores", op.stateful_map("classify", keyed, mapper), TestingSink(out))

    def run() -> Scores:
        run_main(flow)
        return lambda: _feature_scores(events, [score for _, score in out])
    return run


def streamz_classifier(events: list[Event], model: Any) -> Scores:
    """streamz: a `Stream` whose sink predicts, learns and keeps each event's score."""
    from streamz import Stream

    step = _classify_step(model)
    out: list[float | None] = []
    keep = out.append
    source = Stream()
    source.sink(lambda event: keep(step(event)))
    emit = source.emit
    for e in events:
        emit(e)
    return lambda: _feature_scores(events, out)


def edalab_classifier(events: list[Event], model: Any, batch: int) -> Callable[[], Scores]:
    """edalab: `OnlineClassifier` as a batch handler of an `App` on `MemoryBroker`, reading
    the events from the ``features`` topic where the features stage put them (published here,
    before the clock starts, as the peers get theirs in a list) and publishing its predictions
    to ``predictions``. Returns the timed part: the run."""
    broker = MemoryBroker()
    broker.create_topic("features")
    for i in range(0, len(events), batch):
        broker.publish_many("features", events[i:i + batch])
    app = App(broker)
    app.handler("features", output="predictions", batch=True)(OnlineClassifier(model))

    def run() -> Scores:
        app.run(clock="wall", batch_size=batch)
        # No group reads "predictions", so the broker keeps it whole.
        return lambda: [r.event.data["score"] for r in broker.read("predictions")]
    return run


def peers(events: list[Event], repeats: int, batch: int = 1000) -> dict[str, Any]:
    """Events per second of the classifier path in edalab, bytewax, streamz and the bare
    river loop, each on a fresh `make_model("lr")`, interleaved over `repeats` (medians of
    this process's CPU seconds, steady on a machine shared with other work; bytewax's
    threads count too); their scores must be equal. A peer that is not installed is None."""
    # Each contender prepares (untimed) and gives the timed part, which returns its scores.
    runs: dict[str, Callable[[list[Event], Any], Callable[[], Scores]]] = {
        "raw_river": lambda e, m: lambda: raw_river(e, m),
        "edalab": lambda e, m: edalab_classifier(e, m, batch)}
    if importlib.util.find_spec("bytewax"):
        runs["bytewax"] = lambda e, m: bytewax_classifier(e, m, batch)
    if importlib.util.find_spec("streamz"):
        runs["streamz"] = lambda e, m: lambda: streamz_classifier(e, m)
    outputs: dict[str, Scores] = {}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats):
        order = list(runs)[i % len(runs):] + list(runs)[:i % len(runs)]  # who goes first turns
        for name in order:
            timed = runs[name](events, make_model("lr"))
            gc.collect()
            t0 = time.process_time()
            outputs[name] = timed()
            seconds[name].append(time.process_time() - t0)
    reference = outputs["raw_river"]()
    for name, scores in outputs.items():
        if scores() != reference:
            raise AssertionError(f"{name}'s scores differ from the bare river loop's: the "
                                 f"contenders are not doing the same work")
    median = {name: statistics.median(t) for name, t in seconds.items()}
    rates = {f"{name}_per_s": round(len(events) / median[name]) if name in median else None
             for name in ("bytewax", "streamz", "edalab", "raw_river")}
    # Paired: edalab's time over the bare loop's in the same repeat, median over repeats.
    over = statistics.median(e / r for e, r in zip(seconds["edalab"], seconds["raw_river"],
                                                   strict=True)) - 1
    faster = {p: median["edalab"] < median[p] for p in ("bytewax", "streamz") if p in median}
    return {
        "peers": rates, "events": len(events), "predictions": len(reference),
        "repeats": repeats, "clock": "process CPU seconds",
        "edalab_overhead_vs_raw_river": round(over, 4),
        "targets": {
            "edalab_faster_than_peers": all(faster.values()) if faster else None,
            "faster_than": faster,
            "overhead_at_most": PEER_OVERHEAD_TARGET, "overhead_goal": PEER_OVERHEAD_GOAL,
            "overhead_within_target": over <= PEER_OVERHEAD_TARGET,
            "overhead_within_goal": over <= PEER_OVERHEAD_GOAL},
    }


def print_peers(rates: dict[str, Any] | None, d: dict[str, Any]) -> None:
    if rates is None:
        print(f"  classifier path against its peers: failed ({d['error']})")
        return
    print(f"  classifier path against its peers ({d['predictions']:,} predictions, "
          f"{d['events']:,} events, median of {d['repeats']}; scores equal in all):")
    for name in ("raw_river", "edalab", "bytewax", "streamz"):
        rate = rates[f"{name}_per_s"]
        print(f"    {name:<10}" + (f"{rate:>12,} events/s" if rate else "  not installed"))
    t = d["targets"]
    faster = t["edalab_faster_than_peers"]
    print(f"  target edalab faster than bytewax and streamz: "
          f"{'n/a' if faster is None else 'ok' if faster else 'MISSED'} {t['faster_than']}")
    over = d["edalab_overhead_vs_raw_river"]
    print(f"  target edalab over the bare river loop <= {t['overhead_at_most']:.0%} (goal "
          f"{t['overhead_goal']:.0%}): {over:+.1%} "
          f"{'ok' if t['overhead_within_target'] else 'MISSED'}")
