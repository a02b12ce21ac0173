"""`edalab demo fraud`: the event-driven fraud pipeline end to end, on the embedded broker.

Simulated card transactions (the *Fraud Detection Handbook*'s design) and their fraud labels, a
week late, flow through `FraudPipeline`: online features, a classifier that learns as labels
arrive (with a weekly retrained champion by default), approve / review / block decisions and
prequential metrics. It prints the test-week metrics of the model beside the handbook's batch
logistic regression on the same data, the run statistics, and writes an HTML report.
"""

from __future__ import annotations

import argparse

import pandas as pd

from edalab.fraud.handbook import batch_baseline
from edalab.fraud.pipeline import MODELS, FraudPipeline
from edalab.fraud.report import fraud_report
from edalab.streams.simulate_cli import positive, writable_file
from edalab.streams.transactions import transactions

METRICS = ("auc_roc", "average_precision", "card_precision_at_100")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edalab demo fraud", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=positive(int), default=500)
    parser.add_argument("--days", type=int, default=60, help="simulated days (at least 22)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--model", choices=MODELS, default="retrain")
    parser.add_argument("--review", type=float, default=0.5, help="review at this score")
    parser.add_argument("--block", type=float, default=0.9, help="block at this score")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall")
    parser.add_argument("--report", type=writable_file, default="fraud_report.html",
                        help="HTML report path (checked before the run)")
    args = parser.parse_args(argv)
    if args.days < 22:
        parser.error("--days must be at least 22 (a training week, a delay week, a test week)")
    df = transactions(args.customers, 2 * args.customers, args.days, seed=args.seed)
    start = pd.Timestamp("2018-04-01") + pd.Timedelta(days=args.days - 21)
    split = {"start_train": str(start.date())}
    print(f"{len(df):,} transactions, {int(df.TX_FRAUD.sum()):,} frauds; labels 7 days late; "
          f"test week from {(start + pd.Timedelta(days=14)).date()}")
    pipe = FraudPipeline(df, model=args.model, review=args.review, block=args.block,
                         seed=args.seed)
    stats = pipe.run(clock=args.clock, progress=True)
    batch = batch_baseline(df, **split)
    ours = pipe.test_week(**split)
    rows = [{"model": "batch LR (handbook)", "kind": "batch",
             **{m: batch[m] for m in METRICS}},
            {"model": f"event-driven {args.model}", "kind": "event-driven",
             **{m: ours[m] for m in METRICS}}]
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print("\ntest week (the handbook's protocol):")
        print(table.to_string())
    print()
    print(stats)
    counts = pipe.decisions.decision.value_counts().to_dict()
    latency = pipe.decisions.latency_ms.median()
    print(f"\ndecisions: {counts}; median decision latency {latency:.1f} ms ({args.clock} "
          f"clock); model versions: {len(pipe.models)}")
    path = fraud_report(pipe, rows, stats, args.report)
    print(f"report: {path}")
    return 0
