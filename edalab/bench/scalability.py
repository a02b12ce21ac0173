"""`edalab bench scalability`: demand and capacity of Theodolite's use cases, per broker.

For each use case and broker, the lag-trend SLO judges experiments (an open-workload load
at a rate, a number of instances, the consumer group's lag sampled over time) chosen by a
search: demand (the fewest instances meeting the SLO at each load) and capacity (the highest
load met with each instance count). Instances are in-process consumers on the embedded
broker and ``edalab worker`` processes on a fresh NATS server. Every run's lag over time is
saved as an HTML chart under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from edalab.bench._help import DefaultsFormatter
from edalab.scalability import USE_CASES
from edalab.scalability.charts import demand_chart, lag_chart
from edalab.scalability.experiment import BROKERS, ScalabilityRun
from edalab.scalability.search import STRATEGIES
from edalab.scalability.slo import PUBLISHED_THRESHOLD
from edalab.scalability.study import Study, run_study

__all__ = ["QUICK", "caveats", "main", "scalability_report"]

#: The reduced study of ``--quick``: UC1 and UC2, both brokers, 1 and 2 instances.
QUICK = {"ucs": ["uc1", "uc2"], "brokers": list(BROKERS), "loads": [5000, 20000, 50000],
         "instances": [1, 2], "duration": 8.0}


def caveats(study: Study, cores: int | None = None) -> list[str]:
    """What the numbers of `study` can and cannot show on a machine with `cores` cores.

    >>> caveats(Study(instances=[1, 2, 4]), cores=2)[0]  # doctest: +ELLIPSIS
    'this machine has 2 CPU cores; ...'
    """
    cores = cores or os.cpu_count() or 1
    lines = [f"this machine has {cores} CPU cores; on NATS the server, the load generator and "
             f"every worker process share them, so NATS instances beyond {max(1, cores - 1)} "
             "cannot add throughput: there capacity(r) measures what more members cost "
             "(polling, leases), not scale-out; a larger machine runs the same study unchanged"]
    if "memory" in study.brokers:
        lines.append("memory-broker instances are consumers in threads of one Python process "
                     "(one thread runs at a time): they show what sharing a group costs, "
                     "never a parallel speed-up")
    slo = study.slo(min(study.loads))
    lines.append(
        f"SLO: least-squares lag slope after {slo.warmup:g} s of warm-up below "
        + (f"{study.threshold:g} records/s" if study.threshold is not None else
           "5 % of the load (records/s)")
        + f"; Theodolite's {PUBLISHED_THRESHOLD:g} records/s is for 5-minute runs at "
        f"high loads; these runs last {study.duration:g} s")
    return lines


def scalability_report(study: Study, result: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """The JSON report: runs, capacity, demand, the study's settings and its caveats."""
    runs: list[ScalabilityRun] = result["runs"]
    return {"runs": [r.row() for r in runs], "capacity": result["capacity"],
            "demand": result["demand"],
            "study": {"ucs": list(study.ucs), "brokers": list(study.brokers),
                      "loads": list(study.loads), "instances": list(study.instances),
                      "duration_s": study.duration, "repetitions": study.repetitions,
                      "strategy": study.strategy, "lower_bound": study.lower_bound,
                      "partitions": study.partitions, "cpu_cores": os.cpu_count()},
            "caveats": caveats(study), "wall_s": round(wall_s, 1)}


def _table(rep: dict[str, Any], out: Path) -> str:
    lines = ["edalab bench scalability", "  runs:",
             f"    {'uc':<4} {'broker':<7} {'inst':>4} {'load/s':>8} {'rep':>3} "
             f"{'slope/s':>10} {'threshold':>9}  SLO"]
    for r in rep["runs"]:
        lines.append(f"    {r['uc']:<4} {r['broker']:<7} {r['instances']:>4} {r['load']:>8,} "
                     f"{r['repetition']:>3} {r['slope']:>10,.1f} {r['threshold']:>9,.0f}  "
                     + ("met" if r["slo_met"] else "MISSED") + "  cpu s: "
                     + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items())
                     + (f" (generator {r['generator_behind_s']:.1f} s behind)"
                        if r["generator_behind_s"] > 1.0 else ""))
    lines.append("  capacity (highest load meeting the SLO):")
    for c in rep["capacity"]:
        value = "below the lowest load" if c["capacity"] is None else f"{c['capacity']:,}/s"
        lines.append(f"    {c['uc']} {c['broker']:<7} {c['instances']} instance(s): {value}")
    lines.append("  demand (fewest instances meeting the SLO):")
    for d in rep["demand"]:
        value = "none of those tried" if d["instances"] is None else str(d["instances"])
        lines.append(f"    {d['uc']} {d['broker']:<7} at {d['load']:>7,}/s: {value}")
    lines += [f"  note: {c}" for c in rep["caveats"]]
    lines.append(f"  lag charts: {out}/ ({len(rep['runs'])} runs, demand.html); "
                 f"wall time {rep['wall_s']} s")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edalab bench scalability", formatter_class=DefaultsFormatter,
        description="Theodolite's scalability benchmark on edalab: demand and capacity of "
                    "UC1-UC4 under the lag-trend SLO, on the embedded broker and NATS.")
    p.add_argument("--uc", nargs="+", choices=sorted(USE_CASES), default=list(USE_CASES),
                   help="use cases: uc1: each reading written to SQLite; uc2: per-sensor "
                        "tumbling 1-minute statistics; uc3: per (sensor, hour of day) hopping "
                        "windows; uc4: hierarchical group aggregation with feedback")
    p.add_argument("--broker", nargs="+", choices=BROKERS, default=list(BROKERS),
                   help="brokers: memory: the embedded broker, instances are consumers in "
                        "threads of this process; nats: a fresh nats-server, instances are "
                        "edalab worker processes")
    p.add_argument("--loads", nargs="+", type=int, default=[1000, 4000, 16000, 32000],
                   help="loads, records/s (= sensors, each reporting once a second)")
    p.add_argument("--instances", nargs="+", type=int, default=[1, 2, 4],
                   help="instance counts to search")
    p.add_argument("--duration", type=float, default=40.0, help="seconds of load per run")
    p.add_argument("--warmup", type=float,
                   help="seconds of each run left out of the trend (default: a quarter)")
    p.add_argument("--threshold", type=float,
                   help="SLO threshold, records/s (default: 5 %% of each run's load)")
    p.add_argument("--repetitions", type=int, default=1, help="runs per (load, instances)")
    p.add_argument("--strategy", choices=STRATEGIES, default="linear",
                   help="search strategy: linear: candidates in ascending order; binary: "
                        "bisect the sorted candidates")
    p.add_argument("--no-lower-bound", action="store_true",
                   help="search each load's demand from one instance (no lower-bound "
                        "restriction)")
    p.add_argument("--partitions", type=int, default=8, help="partitions of the input topic")
    p.add_argument("--uc3-window", default="30D", help="UC3 window length (pandas offset)")
    p.add_argument("--uc3-hop", default="1D", help="UC3 window advance (pandas offset)")
    p.add_argument("--out", type=Path, default=Path("scalability-report"),
                   help="directory for the lag chart of every run (HTML) and demand.html")
    p.add_argument("--quick", action="store_true",
                   help="the reduced study: UC1 and UC2, both brokers, 1 and 2 instances, "
                        f"loads {QUICK['loads']}, {QUICK['duration']:g} s runs (a few minutes)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _study(args: argparse.Namespace) -> Study:
    kw: dict[str, Any] = {
        "ucs": args.uc, "brokers": args.broker, "loads": args.loads,
        "instances": args.instances, "duration": args.duration}
    if args.quick:
        kw.update(QUICK)
    if any(n < 1 for n in kw["instances"]) or any(x < 1 for x in kw["loads"]):
        raise ValueError("loads and instances must be positive integers")
    if max(kw["instances"]) > args.partitions:
        raise ValueError(f"--instances up to {max(kw['instances'])} need --partitions >= that "
                         f"(got {args.partitions})")
    if args.repetitions < 1 or not kw["duration"] > 0:
        raise ValueError("--repetitions must be >= 1 and --duration > 0")
    study = Study(**kw, warmup=args.warmup, threshold=args.threshold,
                  repetitions=args.repetitions, strategy=args.strategy,
                  lower_bound=not args.no_lower_bound, partitions=args.partitions,
                  params={"uc3": {"window": args.uc3_window, "hop": args.uc3_hop}})
    study.slo(min(study.loads))  # a bad threshold or warm-up fails here, before any run
    return study


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran, 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        study = _study(args)
        args.out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        print(f"edalab bench scalability: {exc}", file=sys.stderr)
        return 2

    def save(run: ScalabilityRun) -> None:
        name = f"{run.uc}-{run.broker}-i{run.instances}-l{run.load}-r{run.repetition}.html"
        lag_chart(run).write_html(args.out / name, include_plotlyjs="directory")
        if not args.json:
            print(f"  ran {run.uc} {run.broker} {run.instances} instance(s) at "
                  f"{run.load:,}/s: slope {run.slope:,.1f}/s, "
                  + ("met" if run.slo_met else "missed"), file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        result = run_study(study, on_run=save)
    except (RuntimeError, OSError) as exc:
        print(f"edalab bench scalability: {exc}", file=sys.stderr)
        return 1
    rep = scalability_report(study, result, time.perf_counter() - started)
    demand_chart(rep["demand"], max(study.instances)).write_html(args.out / "demand.html",
                                           include_plotlyjs="directory")
    print(json.dumps(rep, indent=2) if args.json else _table(rep, args.out))
    return 0
