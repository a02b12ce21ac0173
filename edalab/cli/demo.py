"""`edalab demo [NAME]`: the end-to-end demos, each on the embedded broker.

``edalab demo`` alone runs the default demo; ``edalab demo NAME --help`` shows a demo's options.
Each demo's pipeline lives in its case study; here are only its options and what it prints.
Case studies are imported when their demo runs, so one demo does not load the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from edalab.cli.common import positive, writable_file

__all__ = ["DEFAULT", "DEMOS", "cards", "fraud", "health", "main"]

FRAUD = "the event-driven fraud pipeline end to end, on the embedded broker."
HEALTH = "a simulated ward monitored end to end on the embedded broker."
CARDS = "a small real pipeline on the embedded broker, with its run statistics."


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"edalab demo {name}",
                                   description=f"`edalab demo {name}`: {description}")


def fraud(argv: list[str] | None = None) -> int:
    """`edalab demo fraud`: the test-week metrics of the pipeline beside the handbook's batch
    logistic regression, the run statistics, the decisions, and an HTML report."""
    import pandas as pd

    from edalab.fraud.demo import MIN_DAYS, FraudDemo
    from edalab.fraud.models import MODELS

    parser = _parser("fraud", FRAUD)
    parser.add_argument("--customers", type=positive(int), default=500)
    parser.add_argument("--days", type=int, default=60,
                        help=f"simulated days (at least {MIN_DAYS})")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--model", choices=MODELS, default="retrain")
    parser.add_argument("--review", type=float, default=0.5, help="review at this score")
    parser.add_argument("--block", type=float, default=0.9, help="block at this score")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall")
    parser.add_argument("--report", type=writable_file, default="fraud_report.html",
                        help="HTML report path (checked before the run)")
    args = parser.parse_args(argv)
    if args.days < MIN_DAYS:
        parser.error(f"--days must be at least {MIN_DAYS} (a training week, a delay week, "
                     "a test week)")
    demo = FraudDemo(args.customers, args.days, args.seed, args.model, args.review, args.block)
    print(f"{len(demo.df):,} transactions, {int(demo.df.TX_FRAUD.sum()):,} frauds; labels 7 "
          f"days late; test week from {demo.test_start.date()}")
    stats = demo.run(clock=args.clock, progress=True)
    rows = demo.comparison()
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print("\ntest week (the handbook's protocol):")
        print(table.to_string())
    print()
    print(stats)
    decisions = demo.pipeline.decisions()
    counts = decisions.decision.value_counts().to_dict()
    print(f"\ndecisions: {counts}; median decision latency "
          f"{decisions.latency_ms.median():.1f} ms ({args.clock} clock); model versions: "
          f"{len(demo.pipeline.models())}")
    print(f"report: {demo.write_report(rows, stats, args.report)}")
    return 0


def health(argv: list[str] | None = None) -> int:
    """`edalab demo health`: validation, streaming NEWS2, per-patient anomaly detection and three
    alert policies on a simulated ward; the methods scored against the simulator's ground
    truth, and a standalone HTML report."""
    import pandas as pd

    from edalab.health.closed_loop import compare_closed_loop
    from edalab.health.monitor import WardMonitor
    from edalab.health.report import closed_loop_verdict, verdict, write_report
    from edalab.health.scoring import compare_methods
    from edalab.streams.vitals import vitals

    parser = _parser("health", HEALTH)
    parser.add_argument("--patients", type=positive(int), default=40)
    parser.add_argument("--hours", type=positive(float), default=48.0)
    parser.add_argument("--cadence", type=positive(float), default=15.0,
                        help="minutes between rounds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=writable_file, default="health_report.html",
                        help="HTML report path (checked before the run)")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall")
    args = parser.parse_args(argv)
    ward = vitals(args.patients, args.hours, args.cadence, seed=args.seed)
    monitor = WardMonitor().feed(ward)
    stats = monitor.run(clock=args.clock, progress=True)
    print(stats)
    table = compare_methods({m: monitor.alerts(m) for m in monitor.methods}, ward)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\n" + table.to_string())
    print("\n" + verdict(table))
    closed = compare_closed_loop(ward, monitor.methods, response_time="30min")
    print("\nclosed loop, a response 30 min after each page:\n" + closed.to_string())
    print(closed_loop_verdict(closed))
    print(f"\ndata quality: {monitor.quality()}")
    print(f"report: {write_report(monitor, args.report, stats, closed_loop=closed)}")
    return 0


def cards(argv: list[str] | None = None) -> int:
    """`edalab demo cards`: the card-scoring app (`edalab.apps.card_scoring`) on simulated
    transactions; its run statistics and how many of its alerts were real frauds."""
    from edalab.apps.card_scoring import card_scoring
    from edalab.streams.transactions import transaction_events, transactions

    parser = _parser("cards", CARDS)
    parser.add_argument("--customers", type=positive(int), default=500)
    parser.add_argument("--days", type=positive(int), default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--z", type=float, default=3.0, help="alert threshold in std devs")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall")
    args = parser.parse_args(argv)
    df = transactions(n_customers=args.customers, n_terminals=2 * args.customers,
                      days=args.days, seed=args.seed)
    app = card_scoring(z=args.z)
    app.source("transactions", transaction_events(df))
    print(app.run(clock=args.clock, progress=True))
    alerts = [record.event.data["fraud"] for record in app.broker.read("alerts")]
    precision = sum(alerts) / len(alerts) if alerts else float("nan")
    print(f"\nalerts: {len(alerts)}, of which real frauds: {sum(alerts)} "
          f"(precision {precision:.2f}); frauds in the stream: {int(df['TX_FRAUD'].sum())}")
    return 0


#: Demo name → the function that runs it with the arguments after the name.
DEMOS: dict[str, Callable[[list[str] | None], int]] = {
    "fraud": fraud, "health": health, "cards": cards}
DEFAULT = "fraud"


def main(argv: list[str] | None = None) -> int:
    """Run ``edalab demo [NAME] [OPTIONS]`` (the arguments after ``demo``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: edalab demo [{'|'.join(DEMOS)}] [OPTIONS]\n"
              f"default: {DEFAULT}; edalab demo NAME --help shows a demo's options")
        return 0
    name = DEFAULT
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
        if name not in DEMOS:
            print(f"edalab demo: unknown demo {name!r}; choose from {', '.join(DEMOS)}",
                  file=sys.stderr)
            return 2
    return int(DEMOS[name](argv) or 0)
