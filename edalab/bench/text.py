"""`edalab bench text`: online NLP on incident reports, against a batch scikit-learn model.

One run on the embedded broker: seeded incident reports (`edalab.streams.text`) and their
labels `--label-delay` reports later go through an `App` — a `TextClassifier` (river bag of
words and multinomial naive Bayes, learning from the delayed labels), a `SemanticRouter`
(`--threshold`), a `NoveltyDetector` on the texts and an `ErrorDrift` (ADWIN, delta 0.1) on
the classifier's error. The baseline, on the same reports and the same label delay: a
scikit-learn TF-IDF + logistic regression refitted every `--retrain-every` reports on every
label that has arrived, predicting the reports until the next refit. Accuracy is over every
report (a model with nothing learnt yet is wrong); ``events_per_s`` counts reports (each
with its label) through the whole pipeline. Delays count reports from the first one
of the new kind to the detection; None when it never fired.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from river import drift

from edalab.ml.novelty import ErrorDrift, NoveltyDetector
from edalab.ml.routing import SemanticRouter
from edalab.ml.text import TextClassifier
from edalab.runtime.app import App
from edalab.streams.merge import merge
from edalab.streams.text import incident_reports, text_events, text_label_events

__all__ = ["batch_predictions", "decisions", "main", "routing_timeline", "triage",
           "triage_app"]

EVERY = timedelta(minutes=1)


def triage_app(df: pd.DataFrame, *, threshold: float = 0.8, label_delay: int = 30,
               app: App | None = None) -> tuple[App, dict[str, Any]]:
    """An `App` that triages the reports of `df` (not run yet), and its operators:
    ``classifier`` (on ``incidents``, to ``predictions``), ``router`` (to
    ``incidents.<label>`` or ``incidents.review``), ``novelty`` (to ``novelty``) and
    ``drift`` (to ``drift``)."""
    app = app or App()
    router = SemanticRouter(threshold)
    ops = {"classifier": TextClassifier(forward_labels=True, passthrough=("text",)),
           "router": router, "novelty": NoveltyDetector(),
           "drift": ErrorDrift(lambda: drift.ADWIN(delta=0.1))}
    app.handler("incidents", output="predictions")(ops["classifier"])
    app.handler("incidents", output="novelty")(ops["novelty"])
    app.handler("predictions", output=router.topic_of)(router)
    app.handler("predictions", output="drift")(ops["drift"])
    app.source("incidents", merge(text_events(df),
                                  text_label_events(df, delay=EVERY * label_delay)))
    return app, ops


def decisions(app: App) -> pd.DataFrame:
    """The router's decisions published so far, by report id: id, label, confidence, topic,
    routed."""
    rows = [r.event.data for topic in app.broker.topics() if topic.startswith("incidents.")
            for r in app.broker.read(topic) if r.event.type == "route.decision"]
    frame = pd.DataFrame(rows, columns=["id", "label", "confidence", "topic", "routed"])
    return frame.sort_values("id").reset_index(drop=True)


def routing_timeline(made: pd.DataFrame, df: pd.DataFrame, bucket: int = 100
                     ) -> pd.DataFrame:
    """Per `bucket` consecutive reports: the classifier's accuracy, the share sent to review
    and the accuracy of those routed (each report scored by its category in `df`)."""
    scored = made.assign(truth=df["category"].to_numpy()[made["id"].to_numpy()])
    scored["correct"] = scored["label"] == scored["truth"]
    scored["bucket"] = scored["id"] // bucket
    routed = scored[scored["routed"]].groupby("bucket")["correct"].mean()
    out = scored.groupby("bucket").agg(accuracy=("correct", "mean"),
                                       review_share=("routed", lambda r: 1 - r.mean()))
    out["routed_accuracy"] = routed
    out.index = (out.index + 1) * bucket
    out.index.name = "reports"
    return out


def triage(df: pd.DataFrame, *, threshold: float = 0.8, label_delay: int = 30,
           app: App | None = None) -> dict[str, Any]:
    """Run the reports of `df` through `triage_app`: its operators, the ``predictions``
    (`decisions`), the ``seconds`` the run took and the run ``stats``."""
    app, ops = triage_app(df, threshold=threshold, label_delay=label_delay, app=app)
    t0 = time.perf_counter()
    stats = app.run()
    seconds = time.perf_counter() - t0
    return {**ops, "predictions": decisions(app), "seconds": seconds, "stats": stats,
            "app": app}


def batch_predictions(df: pd.DataFrame, *, label_delay: int = 30,
                      retrain_every: int = 200) -> list[str | None]:
    """Predictions of a TF-IDF + logistic regression (scikit-learn) refitted every
    `retrain_every` reports on the labels arrived so far (report ``i``'s label arrives with
    report ``i + label_delay``); None before the first fit."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = df["text"].tolist(), df["category"].tolist()
    out: list[str | None] = []
    model = None
    for start in range(0, len(texts), retrain_every):
        known = max(0, start - label_delay)
        if len(set(labels[:known])) >= 2:
            model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
            model.fit(texts[:known], labels[:known])
        block = texts[start:start + retrain_every]
        out += list(model.predict(block)) if model is not None else [None] * len(block)
    return out


def _delay(detections: list[int], first: int) -> int | None:
    """Reports from the first novel one (index `first`) to the first detection at or after
    it (`detections` count reports seen, 1-based)."""
    after = [n - 1 - first for n in detections if n - 1 >= first]
    return after[0] if after else None


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench text",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--events", type=int, default=3000, help="incident reports")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reports")
    parser.add_argument("--label-delay", type=int, default=30,
                        help="reports between a report and its label")
    parser.add_argument("--threshold", type=float, default=0.8,
                        help="least confidence the router routes by prediction")
    parser.add_argument("--retrain-every", type=int, default=200,
                        help="reports between refits of the batch baseline")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.events < 100:
        parser.error(f"--events must be >= 100, got {args.events}")
    if not 0 <= args.threshold <= 1:
        parser.error(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.label_delay < 0 or args.retrain_every < 1:
        parser.error("--label-delay must be >= 0 and --retrain-every >= 1")
    df = incident_reports(args.events, seed=args.seed)
    run = triage(df, threshold=args.threshold, label_delay=args.label_delay)
    truth = df["category"].to_numpy()
    online = run["predictions"]["label"].to_numpy()
    batch = np.array(batch_predictions(df, label_delay=args.label_delay,
                                       retrain_every=args.retrain_every), dtype=object)
    first = int(df["novel"].idxmax()) if df["novel"].any() else len(df)
    router = run["router"].stats
    result = {"events": len(df), "accuracy": round(float((online == truth).mean()), 4),
              "batch_accuracy": round(float((batch == truth).mean()), 4),
              "events_per_s": round(len(df) / run["seconds"]),
              "novelty_delay_events": _delay(run["novelty"].detections, first),
              "review_share": round(router["review_share"], 4),
              "routed_accuracy": round(router["routed_accuracy"], 4),
              "drift_delay_events": _delay(run["drift"].detections, first),
              "novelty_false_alarms": sum(n - 1 < first for n in run["novelty"].detections),
              "first_novel_event": first, "label_delay": args.label_delay,
              "threshold": args.threshold}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"edalab bench text: {len(df):,} incident reports, labels {args.label_delay} "
              "reports late\n" + "\n".join(f"  {k:<22} {v}" for k, v in result.items()))
    return 0
