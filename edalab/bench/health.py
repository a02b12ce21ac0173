"""`edalab bench health`: the ward monitor end to end, and streaming NEWS2 against vectorised.

A simulated ward (default 200 patients, 24 hours, one observation set per patient per minute:
288,000 sets) runs through `edalab.health.monitor.WardMonitor` on the embedded broker in wall
time (validation, streaming NEWS2, per-patient anomaly detection, three alert policies),
from pre-built events: events per second, peak memory, and the methods scored against the
simulator's ground truth.

The NEWS2 comparison, measured in the same process with interleaved repeats (medians), on the
same observation sets:

- ``batch-from-events``: the same work done in batch from the same validated events: the
  events turned into one DataFrame, scored by `edalab.health.news2_frame` (the scores are
  checked equal to the operator's before timing).
  ``streaming_news2_vs_batch_from_events`` is ``operator``'s time over this one, paired
  repeat by repeat, median (the issue's target: at most 1.2);
  ``streaming_news2_scoring_vs_batch_from_events`` the same for ``scoring``;
- ``frame``: `edalab.health.news2_frame` on the ward's DataFrame as the simulator made it
  (no events to read: the floor of the batch path);
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

Where the operator's time goes (288,000 validated events in batches of 1,000, one run on a
quiet 2-core machine, seconds): reading the data 0.012 and gathering the values 0.084 (both
shared with the batch path), numpy scoring 0.042, levels and lists 0.013, then the output:
288,000 dicts 0.079 and 288,000 events 0.077. The batch path from events takes 0.18-0.21 in
all. The output alone, two objects per event, costs three quarters of the whole batch path,
so an operator that emits one event per observation set stays above 1.2x in CPython.

The stage's busy time inside the pipeline run is reported too (``handler_busy_s["news2"]``).
Before timing, the pre-built input events (and the NEWS2 timings' batch lists that hold them)
are frozen out of the garbage collector's reach (`gc.freeze`), so that the collections
triggered by the millions of objects a run allocates do not rescan them: what is measured is
the pipeline, not the collector walking the input.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import time

import numpy as np
import pandas as pd
import psutil

from edalab.events import Event
from edalab.health import validation
from edalab.health.closed_loop import compare_closed_loop
from edalab.health.monitor import News2Operator, WardMonitor, score_matrix, values_matrix
from edalab.health.news2 import news2_frame
from edalab.health.report import closed_loop_verdict, verdict
from edalab.health.scoring import compare_methods
from edalab.health.validation import Validator
from edalab.streams.vitals import vitals, vitals_events


def _mib_peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


#: The target of ``streaming_news2_vs_batch_from_events``.
STREAMING_VS_BATCH_TARGET = 1.2
_LETTERS = dict(enumerate(validation.ACVPU))


def validated_frame(events: list[Event]) -> pd.DataFrame:
    """Validated observation sets as the DataFrame `news2_frame` reads: one row per event,
    the ``values`` vector as NEWS2's columns, consciousness back to its ACVPU letter.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> e = Event("vitals.validated", "/v", {"patient_id": "p1", "carried": [],
    ...           "values": [22.0, 95.0, 0.0, 105.0, 95.0, 0.0, None]}, key="p1", time=t)
    >>> validated_frame([e])[["spo2", "consciousness", "temperature"]]
       spo2 consciousness  temperature
    0  95.0             A          NaN
    """
    frame = pd.DataFrame(values_matrix([e.data for e in events]), columns=list(validation.VECTOR))
    frame["consciousness"] = frame["consciousness"].map(_LETTERS)
    return frame


def news2_from_events(events: list[Event]) -> pd.DataFrame:
    """NEWS2 in batch from events: `validated_frame`, then `news2_frame`."""
    return news2_frame(validated_frame(events))


def check_same_scores(validated: list[Event], batch: int) -> None:
    """Raise if the batch path from events and the streaming operator disagree on a score."""
    op = News2Operator()
    scored = [e for i in range(0, len(validated), batch)
              for e in op.batch(validated[i:i + batch])]
    frame = news2_from_events(validated)
    partial = np.array([e.data["partial"] for e in scored], dtype=float)
    total = np.array([e.data["news2"] for e in scored], dtype=float)
    if not (np.array_equal(partial, frame["partial_total"].to_numpy(dtype=float))
            and np.array_equal(total, frame["total"].to_numpy(dtype=float), equal_nan=True)):
        raise AssertionError("news2_frame of the validated events and News2Operator.batch "
                             "give different scores: they would not be doing the same work")


def news2_timings(ward, validated, batch: int, repeats: int) -> dict[str, list[float]]:
    """Seconds of each NEWS2 path, one per repeat (the paths interleaved in each repeat)."""
    op = News2Operator()
    chunks = [validated[i:i + batch] for i in range(0, len(validated), batch)]

    def batch_from_events() -> None:
        news2_from_events(validated)

    def frame() -> None:
        news2_frame(ward)

    def operator() -> None:
        for chunk in chunks:
            op.batch(chunk)

    def scoring() -> None:
        for chunk in chunks:
            op.score_events(chunk)

    matrices = [values_matrix([e.data for e in chunk]) for chunk in chunks]
    # The batches hold the input events: frozen with them (the caller unfreezes), else every
    # full collection a path's allocations trigger walks all their references.
    gc.collect()
    gc.freeze()

    def gather() -> None:
        for chunk in chunks:
            values_matrix([e.data for e in chunk])

    def numpy_only() -> None:
        for x in matrices:
            score_matrix(x)

    def per_event() -> None:
        for e in validated:
            op(e)

    runs = {"batch-from-events": batch_from_events, "frame": frame, "operator": operator,
            "scoring": scoring, "gather": gather, "numpy": numpy_only, "per-event": per_event}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def paired_ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """The median over repeats of one path's time over another's in the same repeat.

    >>> paired_ratio({"a": [2.0, 3.0, 9.0], "b": [1.0, 2.0, 3.0]}, "a", "b")
    2.0
    """
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator],
                                                     strict=True))


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench health",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--patients", type=int, default=200, help="patients on the ward")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--cadence", type=float, default=1.0, help="minutes between rounds")
    parser.add_argument("--batch", type=int, default=1000, help="poll / source batch size")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the NEWS2 timings")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument("--closed-loop", action="store_true",
                        help="also run each method in a closed loop (a response 30 min after "
                             "each page) and report the adverse events it prevented")
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
    check_same_scores(validated, args.batch)
    gc.collect()
    gc.freeze()
    runs = news2_timings(ward, validated, args.batch, args.repeats)
    gc.unfreeze()
    timings = {k: statistics.median(v) for k, v in runs.items()}
    vs_batch = paired_ratio(runs, "operator", "batch-from-events")
    scoring_vs_batch = paired_ratio(runs, "scoring", "batch-from-events")
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
        "streaming_news2_vs_batch_from_events": round(vs_batch, 3),
        "streaming_news2_vs_batch_from_events_target": STREAMING_VS_BATCH_TARGET,
        "streaming_news2_vs_batch_from_events_within_target":
            vs_batch <= STREAMING_VS_BATCH_TARGET,
        "streaming_news2_scoring_vs_batch_from_events": round(scoring_vs_batch, 3),
        "streaming_news2_overhead": round(overhead, 3),
        "streaming_news2_within_target": overhead <= 0.2,
        "streaming_news2_scoring_overhead": round(scoring, 3),
        "per_event_news2_overhead": round(timings["per-event"] / timings["frame"] - 1, 3),
        "news2_compared": "News2Operator.batch (the pipeline's batch handler: gather, numpy "
                          "scoring, output events built) on the validated events in polled "
                          f"batches of {args.batch}, against the same events -> one DataFrame "
                          "-> news2_frame (streaming_news2_vs_batch_from_events, paired per "
                          "repeat) and against news2_frame of the simulator's DataFrame "
                          "(streaming_news2_overhead); scoring = the operator without building "
                          f"events; median of {args.repeats} interleaved repeats",
        "handler_busy_s": {h: round(float(b), 3) for h, b in frame["busy_s"].items()},
        "methods": [{"method": m, **{k: (None if v != v else v) for k, v in row.items()}}
                    for m, row in table.astype(object).to_dict(orient="index").items()],
        "verdict": verdict(table),
    }
    if args.closed_loop:
        closed = compare_closed_loop(ward, monitor.methods, response_time="30min")
        result["closed_loop"] = [{"method": m, **row} for m, row in
                                 closed.astype(object).to_dict(orient="index").items()]
        result["closed_loop_verdict"] = closed_loop_verdict(closed)
    if args.json:
        print(json.dumps(result, indent=2, default=int))
    else:
        print(f"edalab bench health: {len(events):,} observation sets ({args.patients} patients, "
              f"{args.hours:g} h, every {args.cadence:g} min)")
        print(f"  pipeline {wall:.1f} s wall, {len(events) / wall:,.0f} events/s, "
              f"peak {peak:,.0f} MiB (pipeline +{peak - rss_before:,.0f} MiB); "
              f"dead letters {stats.dead_letters}")
        print("  NEWS2, median s: " + ", ".join(f"{k} {v:.3f}" for k, v in timings.items()))
        state = "ok" if result["streaming_news2_vs_batch_from_events_within_target"] \
            else "MISSED"
        print(f"  streaming NEWS2 vs batch from the same events (events -> frame -> "
              f"news2_frame): {vs_batch:.2f}x  (target <= {STREAMING_VS_BATCH_TARGET:g}x: "
              f"{state}); scoring only, no output events: {scoring_vs_batch:.2f}x")
        print(f"  streaming NEWS2 over news2_frame of the simulator's own DataFrame: "
              f"{100 * overhead:+.0f} % with its output events, {100 * scoring:+.0f} % "
              f"scoring only ({result['news2_compared']})")
        print(table.to_string())
        print(result["verdict"])
        if args.closed_loop:
            print(result["closed_loop_verdict"])
    return 0
