"""`edalab demo health`: a simulated ward monitored end to end on the embedded broker.

Vital-sign events flow through validation, streaming NEWS2, per-patient anomaly detection and
three alert policies (NEWS2 alone, anomaly detection alone, combined); the demo prints the run
statistics and the methods scored against the simulator's ground truth, and writes a
standalone HTML report.
"""

from __future__ import annotations

import argparse

import pandas as pd

from edalab.health.monitor import WardMonitor
from edalab.health.report import verdict, write_report
from edalab.health.scoring import compare
from edalab.streams.simulate_cli import positive, writable_file
from edalab.streams.vitals import vitals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edalab demo health",
                                     description=__doc__.split("\n")[0])
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
    table = compare({m: monitor.alerts(m) for m in monitor.methods}, ward)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\n" + table.to_string())
    print("\n" + verdict(table))
    print(f"\ndata quality: {monitor.quality()}")
    path = write_report(monitor, args.report, stats)
    print(f"report: {path}")
    return 0
