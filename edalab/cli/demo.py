"""`edalab demo [NAME]`: the end-to-end demos, each on the embedded broker.

``edalab demo`` alone runs the default demo; ``edalab demo NAME --help`` shows a demo's options.
Each demo's pipeline lives in its case study; here are only its options and what it prints.
Case studies are imported when their demo runs, so one demo does not load the others.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable

from edalab.cli.common import (
    CLOCK_HELP,
    DefaultsFormatter,
    choices_help,
    positive,
    writable_file,
)

__all__ = ["DEFAULT", "DEMOS", "MODEL_HELP", "SUMMARIES", "cards", "fraud", "health", "main",
           "serverless"]

FRAUD = ("card transactions through the event-driven fraud pipeline (features, an online "
         "model learning from labels a week late, decisions), scored beside the handbook's "
         "batch model; writes an HTML report.")
HEALTH = ("a simulated ward monitored end to end: validation, streaming NEWS2, anomaly "
          "detection and three alert policies scored against the truth; writes an HTML report.")
CARDS = ("the smallest real pipeline: per-customer z-scores of card amounts, with its run "
         "statistics and how many of its alerts were frauds.")
SERVERLESS = ("serverless functions simulated over an Azure-like day: keep-alive policies "
              "side by side (cold starts, wasted memory, latency, cost), and where an "
              "always-on worker becomes cheaper than serverless.")
#: One line per demo, what `edalab demo --help` lists.
SUMMARIES = {"fraud": FRAUD, "health": HEALTH, "cards": CARDS, "serverless": SERVERLESS}
#: What each of `edalab.fraud.models.MODELS` is, for `--model`'s help.
MODEL_HELP = {
    "lr": "online logistic regression (river, standard-scaled, SGD)",
    "lr-adam": "the same with the Adam optimiser",
    "hoeffding": "a Hoeffding tree",
    "arf": "an adaptive random forest learning from every fraud and a tenth of the genuine",
    "hst": "half-space trees, unsupervised: the score is an anomaly score",
    "retrain": "lr first; every week gradient boosting is trained on the last four weeks' "
               "labels and replaces the model in use when it scores better on the latest week",
}


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"edalab demo {name}",
                                   description=f"`edalab demo {name}`: {description}",
                                   formatter_class=DefaultsFormatter)


def _clock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall",
                        help=choices_help("the run's clock", dict(
                            part.split(": ", 1) for part in CLOCK_HELP.split("; "))))


def fraud(argv: list[str] | None = None) -> int:
    """`edalab demo fraud`: the test-week metrics of the pipeline beside the handbook's batch
    logistic regression, the run statistics, the decisions, and an HTML report."""
    import pandas as pd

    from edalab.fraud.demo import MIN_DAYS, FraudDemo
    from edalab.fraud.models import MODELS

    parser = _parser("fraud", FRAUD)
    parser.add_argument("--customers", type=positive(int), default=500,
                        help="simulated card holders (terminals: twice as many)")
    parser.add_argument("--days", type=int, default=60,
                        help=f"simulated days (at least {MIN_DAYS}: the test week is the "
                             "last of three)")
    parser.add_argument("--seed", type=int, default=5, help="seed of the simulation and model")
    parser.add_argument("--model", choices=MODELS, default="retrain",
                        help=choices_help("the online model",
                                          {m: MODEL_HELP[m] for m in MODELS}))
    parser.add_argument("--review", type=float, default=0.5,
                        help="score from which a transaction goes to a fraud analyst for "
                             "review (until its model has learned its first label, a "
                             "transaction's decision is 'abstain')")
    parser.add_argument("--block", type=float, default=0.9,
                        help="score from which a transaction is blocked (at least --review)")
    _clock(parser)
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
    if "abstain" in counts:
        print("(abstain: decided before the model had learned its first label, a week in: "
              "neither reviewed nor blocked; the report's cold start says more)")
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
    parser.add_argument("--patients", type=positive(int), default=40,
                        help="patients on the simulated ward")
    parser.add_argument("--hours", type=positive(float), default=48.0,
                        help="simulated hours")
    parser.add_argument("--cadence", type=positive(float), default=15.0,
                        help="minutes between rounds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulation")
    parser.add_argument("--report", type=writable_file, default="health_report.html",
                        help="HTML report path (checked before the run)")
    _clock(parser)
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
    parser.add_argument("--customers", type=positive(int), default=500,
                        help="simulated card holders (terminals: twice as many)")
    parser.add_argument("--days", type=positive(int), default=30, help="simulated days")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulation")
    parser.add_argument("--z", type=float, default=3.0,
                        help="alert when an amount is this many standard deviations above "
                             "its customer's mean")
    _clock(parser)
    args = parser.parse_args(argv)
    df = transactions(customers=args.customers, terminals=2 * args.customers,
                      days=args.days, seed=args.seed)
    app = card_scoring(z=args.z)
    # A list, not a generator: the progress bar then knows the total (percentage and ETA).
    app.source("transactions", list(transaction_events(df)))
    print(app.run(clock=args.clock, progress=True))
    alerts = [record.event.data["fraud"] for record in app.broker.read("alerts")]
    precision = sum(alerts) / len(alerts) if alerts else float("nan")
    print(f"\nalerts: {len(alerts)}, of which real frauds: {sum(alerts)} "
          f"(precision {precision:.2f}); frauds in the stream: {int(df['TX_FRAUD'].sum())}")
    return 0


def serverless(argv: list[str] | None = None) -> int:
    """`edalab demo serverless`: keep-alive policies on a simulated Azure-like day, and the
    load at which an always-on worker costs less than serverless."""
    import numpy as np

    from edalab.bench.serverless import policy_table, run_policies
    from edalab.serverless.cost import break_even, cost_per_million
    from edalab.serverless.platform import COLD_START_S

    parser = _parser("serverless", SERVERLESS)
    parser.add_argument("--functions", type=positive(int), default=100,
                        help="functions in the Azure-like workload")
    parser.add_argument("--hours", type=positive(float), default=24.0, help="simulated hours")
    parser.add_argument("--seed", type=int, default=0, help="seed of the workload")
    parser.add_argument("--exec-ms", type=positive(float), default=50.0,
                        help="execution time of the function priced against always-on")
    parser.add_argument("--memory-mb", type=positive(float), default=512.0,
                        help="its memory")
    args = parser.parse_args(argv)
    rows, wall = run_policies(args.functions, args.hours, args.seed)
    print(f"{args.functions} functions, {args.hours:g} simulated hours ({wall:.1f} s wall; "
          f"a cold start adds {COLD_START_S:g} s on average):")
    print(policy_table(rows))
    exec_s = args.exec_ms / 1000
    rate = break_even(exec_s, args.memory_mb)
    table = cost_per_million(np.array([0.01, 0.1, 1.0, 10.0, 100.0]), exec_s, args.memory_mb)
    print(f"\na {args.exec_ms:g} ms, {args.memory_mb:g} MB function: $ per million events")
    print(table.round(3).to_string(index=False))
    print(f"break-even: one always-on worker is cheaper above {rate:.2f} events/s")
    return 0


#: Demo name → the function that runs it with the arguments after the name.
DEMOS: dict[str, Callable[[list[str] | None], int]] = {
    "fraud": fraud, "health": health, "cards": cards, "serverless": serverless}
DEFAULT = "fraud"


def main(argv: list[str] | None = None) -> int:
    """Run ``edalab demo [NAME] [OPTIONS]`` (the arguments after ``demo``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        width = max(map(len, DEMOS)) + 4
        print(f"usage: edalab demo [{'|'.join(DEMOS)}] [OPTIONS]\n\ndemos:\n"
              + "".join(textwrap.fill(SUMMARIES[name], 96, initial_indent=f"  {name:<{width-2}}",
                                      subsequent_indent=" " * width) + "\n" for name in DEMOS)
              + f"\ndefault: {DEFAULT}; edalab demo NAME --help shows a demo's options")
        return 0
    name = DEFAULT
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
        if name not in DEMOS:
            print(f"edalab demo: unknown demo {name!r}; choose from {', '.join(DEMOS)}",
                  file=sys.stderr)
            return 2
    return int(DEMOS[name](argv) or 0)
