"""`edalab bench health`: the ward monitor end to end, and streaming NEWS2 against vectorised.

A simulated ward (default 200 patients, 24 hours, one observation set per patient per minute:
288,000 sets) runs through `edalab.health.monitor.WardMonitor` on the embedded broker in wall
time (validation, streaming NEWS2, per-patient anomaly detection, three alert policies),
from pre-built events: events per second, peak memory, and the methods scored against the
simulator's ground truth.

The NEWS2 comparison, measured in the same process with interleaved repeats (medians), on the
same observation sets:

- ``frame``: `edalab.health.news2_frame` on the ward's DataFrame (the vectorised reference);
- ``operator``: what the pipeline's NEWS2 stage runs, `News2Operator.batch` on the validated
  events in polled batches of ``--batch``: the values gathered from the events into one matrix,
  scored with numpy, and the ``vitals.scored`` output events built.
  ``streaming_news2_overhead`` is its time over ``frame``'s, minus 1 (the issue's target:
  at most 0.2);
- ``scoring``: the same without building the output events (`News2Operator.score_events`):
  ``streaming_news2_scoring_overhead``;
- ``gather``: only reading the values out of the events into matrices, no scoring (the floor
  of any operator that takes one event per observation set);
- ``numpy``: only the numpy scoring of the gathered matrices (the part that is vectorised in
  both);
- ``per-event``: the operator one event at a time (`News2Operator.__call__`).

The stage's busy time inside the pipeline run is reported too (``handler_busy_s["news2"]``).
Before timing, the pre-built input events are frozen out of the garbage collector's reach
(`gc.freeze`), so that the collections triggered by the millions of objects a run allocates do
not rescan them: what is measured is the pipeline, not the collector walking the input.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import time

import psutil

from edalab.health.monitor import News2Operator, WardMonitor, _gather, _score_matrix
from edalab.health.news2 import news2_frame
from edalab.health.scoring import compare_methods
from edalab.health.validation import Validator
from edalab.streams.vitals import vitals, vitals_events


def _mib_peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def news2_timings(ward, validated, batch: int, repeats: int) -> dict[str, float]:
    op = News2Operator()
    chunks = [validated[i:i + batch] for i in range(0, len(validated), batch)]

    def frame() -> None:
        news2_frame(ward)

    def operator() -> None:
        for chunk in chunks:
            op.batch(chunk)

    def scoring() -> None:
        for chunk in chunks:
            op.score_events(chunk)

    matrices = [_gather([e.data for e in chunk]) for chunk in chunks]

    def gather() -> None:
        for chunk in chunks:
            _gather([e.data for e in chunk])

    def numpy_only() -> None:
        for x in matrices:
            _score_matrix(x)

    def per_event() -> None:
        for e in validated:
            op(e)

    runs = {"frame": frame, "operator": operator, "scoring": scoring, "gather": gather,
            "numpy": numpy_only, "per-event": per_event}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edalab bench health",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--cadence", type=float, default=1.0, help="minutes between rounds")
    parser.add_argument("--batch", type=int, default=1000, help="poll / source batch size")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the NEWS2 timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    ward = vitals(args.patients, args.hours, args.cadence, seed=args.seed)
    simulate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    events = list(vitals_events(ward))
    events_s = time.perf_counter() - t0

    validator = Validator()
    validated = [v for e in events for v in validator.process(e)
                 if v.type == "vitals.validated"]
    gc.collect()
    gc.freeze()
    timings = news2_timings(ward, validated, args.batch, args.repeats)
    gc.unfreeze()
    del validated, validator
    gc.collect()
    gc.freeze()  # the input events: alive for the whole run, not worth rescanning

    rss_before = psutil.Process().memory_info().rss / 2**20
    monitor = WardMonitor().feed(events)
    t0 = time.perf_counter()
    stats = monitor.run(clock="wall", batch_size=args.batch)
    wall = time.perf_counter() - t0
    peak = _mib_peak()
    table = compare_methods({m: monitor.alerts(m) for m in monitor.methods}, ward)
    frame = stats.to_frame()
    gc.unfreeze()
    overhead = timings["operator"] / timings["frame"] - 1
    scoring = timings["scoring"] / timings["frame"] - 1
    result = {
        "benchmark": "edalab bench health",
        "python": platform.python_version(),
        "patients": args.patients, "hours": args.hours, "cadence_minutes": args.cadence,
        "observations": len(events), "batch": args.batch,
        "simulate_s": round(simulate_s, 2), "build_events_s": round(events_s, 2),
        "pipeline_s": round(wall, 2), "events_per_s": round(len(events) / wall),
        "peak_mib": round(peak), "pipeline_mib": round(peak - rss_before),
        "dead_letters": stats.dead_letters, "quality": monitor.quality(),
        "news2_seconds": {k: round(v, 4) for k, v in timings.items()},
        "streaming_news2_overhead": round(overhead, 3),
        "streaming_news2_within_target": overhead <= 0.2,
        "streaming_news2_scoring_overhead": round(scoring, 3),
        "per_event_news2_overhead": round(timings["per-event"] / timings["frame"] - 1, 3),
        "news2_compared": "news2_frame(DataFrame) vs News2Operator.batch (the pipeline's batch "
                          "handler: gather, numpy scoring, output events built) on the same "
                          f"observation sets as validated events, polled batches of "
                          f"{args.batch}; scoring = the same without building events; median "
                          f"of {args.repeats} interleaved repeats",
        "handler_busy_s": {h: round(float(b), 3) for h, b in frame["busy_s"].items()},
        "methods": [{"method": m, **{k: (None if v != v else v) for k, v in row.items()}}
                    for m, row in table.astype(object).to_dict(orient="index").items()],
    }
    if args.json:
        print(json.dumps(result, indent=2, default=int))
    else:
        print(f"edalab bench health: {len(events):,} observation sets ({args.patients} patients, "
              f"{args.hours:g} h, every {args.cadence:g} min)")
        print(f"  pipeline {wall:.1f} s wall, {len(events) / wall:,.0f} events/s, "
              f"peak {peak:,.0f} MiB (pipeline +{peak - rss_before:,.0f} MiB); "
              f"dead letters {stats.dead_letters}")
        print("  NEWS2, median s: " + ", ".join(f"{k} {v:.3f}" for k, v in timings.items()))
        print(f"  streaming NEWS2 overhead over vectorised: {100 * overhead:.0f} % with its "
              f"output events, {100 * scoring:.0f} % scoring only "
              f"(target <= 20 %; {result['news2_compared']})")
        print(table.to_string())
    return 0
