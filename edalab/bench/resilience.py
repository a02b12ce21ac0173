"""`edalab bench resilience`: exception-handling strategies under four faults, measured.

A small card-scoring pipeline calls a flaky model dependency (wrapped by `Faults`) and applies
each payment to a sink that counts applications per event id. Faults: ``transient`` (10 %
random `TransientError`), ``outage`` (the dependency down for 60 s), ``poison`` (a few payments
that always fail, with ``ValueError``), ``crash`` (a worker killed mid-batch: on the embedded
broker its App leaves the group with the batch un-acked, and a new worker takes its
partitions and the rest of the stream). Strategies: ``dlq-only`` (one attempt, then the
dead-letter topic), ``retry-blocking``, ``retry-topics``, ``retry-topics+breaker``,
``retry-topics+breaker+idempotent`` (an idempotent sink). Every number comes from the run.

Time is the app's virtual clock (payments arrive at 20 per second of event time, a dependency
call costs 10 ms of it), so the 60-second outage runs in a fraction of a wall second and every
run gives the same numbers. With ``--nats`` the transient and crash faults also run on NATS
JetStream (a `NatsServer` of its own): transient in process on the virtual clock; crash with
two ``edalab worker`` processes, one SIGKILLed mid-batch, in wall time (payments published
at 400 a second; latencies are wall milliseconds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from edalab.bench._help import DefaultsFormatter
from edalab.bench._resilience_run import (
    FAULTS,
    STRATEGIES,
    T0,
    Run,
    Setup,
    partition_of,
    run_scenario,
)

__all__ = ["FAULTS", "STRATEGIES", "Run", "Setup", "main", "poison_flow", "report",
           "run_all", "run_scenario", "targets", "timeline", "timeline_chart"]

def run_all(setup: Setup | None = None, *, nats: bool = False) -> dict[str, Any]:
    """Every fault x strategy on the embedded broker (and transient and crash on NATS with
    `nats`), plus the no-fault baseline: ``{"runs": [Run...], "baseline": Run, "skipped":
    [...]}``."""
    setup = setup or Setup()
    runs = [run_scenario(f, s, setup) for f in FAULTS for s in STRATEGIES]
    skipped: list[dict[str, str]] = []
    if nats:
        runs += _nats_runs(setup, skipped)
    return {"runs": runs, "baseline": run_scenario("none", "retry-topics", setup),
            "skipped": skipped}


def _nats_runs(setup: Setup, skipped: list[dict[str, str]]) -> list[Run]:
    """Transient in process on the virtual clock; crash with worker processes in wall time,
    each strategy on a server of its own (the lease bucket keeps consumers of the workers
    that came and went, and a server shared by several crash runs starts refusing new
    ones: "maximum consumers limit reached")."""
    from edalab.bench._resilience_nats import run_crash

    with _nats() as (broker, _):
        runs = [run_scenario("transient", s, setup, broker=broker, topic=f"payments{i}")
                for i, s in enumerate(STRATEGIES)]
    for s in STRATEGIES:
        with _nats() as (broker, url):
            try:
                runs.append(run_crash(s, setup, broker, url, "crash"))
            except RuntimeError as exc:
                skipped.append({"fault": "crash", "strategy": s, "broker": "nats",
                                "reason": str(exc)})
    return runs


@contextlib.contextmanager
def _nats() -> Iterator[tuple[Any, str]]:
    """A fresh `NatsServer` and a broker on it whose lease TTL (2 s, which the workers take
    too) is how long a killed worker's partitions wait for a new owner."""
    from edalab.brokers.nats.broker import NatsBroker
    from edalab.brokers.nats.server import NatsServer

    server = NatsServer().start()
    try:
        broker = NatsBroker(server.url, lease_ttl=2.0)
        try:
            yield broker, server.url
        finally:
            broker.close()
    finally:
        server.stop()


def _find(runs: list[Run], fault: str, strategy: str, broker: str = "memory") -> Run | None:
    return next((r for r in runs if (r.fault, r.strategy, r.broker) == (fault, strategy,
                                                                       broker)), None)


def poison_flow(run: Run, baseline: Run) -> float:
    """Healthy payments of the poisoned partitions applied while a poisoned one was being
    retried (from its arrival to its dead-lettering, in `run`), as a share of those applied
    in the same windows without faults: about 1 when healthy events flow past the poisoned
    one, well below 1 when they stall behind it."""
    where = partition_of(run.setup)
    poisoned = run.setup.poisoned()
    windows: dict[int, list[tuple[float, float]]] = {}
    for e in run.events:
        if e.id in poisoned and run.calls.get(e.id):
            start = (e.time - T0).total_seconds()
            windows.setdefault(where(e), []).append((start, run.calls[e.id][-1]))

    def count(r: Run) -> int:
        return sum(1 for e in r.events if e.id not in poisoned and where(e) in windows
                   and e.id in r.first_applied
                   and any(a <= r.first_applied[e.id] < b for a, b in windows[where(e)]))

    base = count(baseline)
    return round(count(run) / base, 3) if base else float("nan")


def targets(runs: list[Run], baseline: Run) -> list[dict[str, Any]]:
    """The issue's Must-show claims, each checked on the runs: ``{"target", "value",
    "ok"}`` (ok None when the runs it needs are not there)."""
    checks: list[dict[str, Any]] = []

    def check(target: str, value: Any, ok: bool | None) -> None:
        checks.append({"target": target, "value": value, "ok": ok})

    for broker in ("memory", "nats"):
        retried = [r for r in runs if r.fault == "transient" and r.broker == broker
                   and r.strategy.startswith("retry")]
        if retried:
            bad = {r.strategy: (r.row()["lost"], len(r.dead)) for r in retried
                   if r.row()["lost"] or r.dead}
            check(f"transient ({broker}): with retries nothing lost, nothing dead-lettered",
                  bad or "none lost, none dead-lettered", not bad)
    plain, guarded = (_find(runs, "outage", s) for s in ("retry-topics",
                                                         "retry-topics+breaker"))
    if plain and guarded and not plain.outage_calls:
        check("outage: breaker cuts calls >= 90%, nothing in the DLQ, backlog drains",
              f"the stream ends before the outage ({plain.setup.events} payments)", None)
    elif plain and guarded:
        cut = 1 - guarded.outage_calls / plain.outage_calls
        check("outage: breaker cuts calls to the down dependency >= 90% vs plain retries",
              f"{cut:.1%} ({guarded.outage_calls} vs {plain.outage_calls} calls)", cut >= 0.9)
        drained = guarded.recovery()
        check("outage: breaker sends nothing to the DLQ and the backlog drains",
              f"{len(guarded.dead)} dead letters, recovered {drained} s after the outage",
              not guarded.dead and drained is not None)
    topics, blocking = (_find(runs, "poison", s) for s in ("retry-topics", "retry-blocking"))
    if topics and blocking:
        flow = poison_flow(topics, baseline)
        check("poison: with retry topics healthy events keep >= 80% of no-fault throughput",
              flow, flow >= 0.8)
        stall = poison_flow(blocking, baseline)
        check("poison: blocking retries stall the poisoned partition (< 80%)", stall,
              stall < 0.8)
        every = all(len(r.dead) == r.setup.poison for r in (topics, blocking))
        check("poison: each poisoned event reaches the DLQ",
              {r.strategy: len(r.dead) for r in (topics, blocking)}, every)
    for broker in ("memory", "nats"):
        idem = _find(runs, "crash", "retry-topics+breaker+idempotent", broker)
        if idem:
            row = idem.row()
            check(f"crash ({broker}): the idempotent sink applies every event exactly once",
                  f"{row['lost']} lost, {row['duplicates_applied']} duplicates",
                  row["lost"] == 0 and row["duplicates_applied"] == 0 and not idem.dead)
    return checks


def report(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON report of `run_all`'s result."""
    runs, baseline = result["runs"], result["baseline"]
    setup = baseline.setup
    return {"benchmark": "resilience", "clock": "virtual",
            "setup": {"events": setup.events, "rate_per_s": setup.rate,
                      "partitions": setup.partitions, "service_ms": setup.service_ms,
                      "error_rate": setup.error_rate, "outage_s": list(setup.outage),
                      "poison": setup.poison, "max_attempts": setup.max_attempts},
            "scenarios": [r.row() for r in runs], "baseline": baseline.row(),
            "skipped": result["skipped"], "targets": targets(runs, baseline),
            "wall_s": round(sum(r.wall_s for r in runs) + baseline.wall_s, 2)}


def timeline(run: Run, bucket: float = 5.0) -> pd.DataFrame:
    """`run` over (virtual) time in `bucket`-second steps, each row at the step's end:
    payments applied per second, the p99 latency (s) of those applied in the step, the
    backlog (arrived, not yet applied or dead-lettered), dependency calls per second, the
    DLQ's size, duplicates applied so far, and whether the breaker was open (1)."""
    calls = np.array([t for times in run.calls.values() for t in times])
    firsts = run.first_applied
    applied = np.array(list(firsts.values()))
    dead = np.array([run.calls[i][-1] for i in run.dead if run.calls.get(i)])
    dups = np.array(run.duplicate_times)
    arrived = np.array([(e.time - T0).total_seconds() for e in run.events])
    latency = np.array([firsts[e.id] - a for e, a in zip(run.events, arrived, strict=True)
                        if e.id in firsts])
    end = max([run.fault_end, *calls.tolist(), *applied.tolist(), 0.0])
    edges = np.arange(0.0, end + bucket, bucket)
    right = edges[1:]

    def rate(times: np.ndarray) -> np.ndarray:
        return np.histogram(times, edges)[0] / bucket

    def upto(times: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.sort(times), right, side="right")

    step = np.digitize(applied, edges) - 1
    p99 = [float(np.percentile(latency[step == i], 99)) if (step == i).any() else np.nan
           for i in range(len(right))]
    changes = sorted(run.breaker)
    is_open = [next((int(s == "open") for at, s in reversed(changes) if at <= t), 0)
               for t in right]
    return pd.DataFrame({"t_s": right, "applied_per_s": rate(applied), "p99_latency_s": p99,
                         "backlog": upto(arrived) - upto(applied) - upto(dead),
                         "dependency_calls_per_s": rate(calls), "dlq_size": upto(dead),
                         "duplicates_applied": upto(dups), "breaker_open": is_open})


#: The panels of `timeline_chart`: column of `timeline`, and its axis title.
PANELS = [("applied_per_s", "applied (ev/s)"), ("p99_latency_s", "p99 latency (s)"),
          ("backlog", "backlog (events)"), ("dependency_calls_per_s", "dependency calls/s"),
          ("dlq_size", "DLQ size (events)"), ("breaker_open", "breaker open"),
          ("duplicates_applied", "duplicates applied")]


def timeline_chart(runs: list[Run], bucket: float = 5.0, title: str = "") -> Any:
    """A plotly figure: one panel per `PANELS` row, one line per run (named by strategy),
    over virtual time; an outage or a crash is shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.02)
    colors = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]
    dashes = ["solid", "solid", "solid", "solid", "dot", "dash"]  # equal runs stay visible
    for i, run in enumerate(runs):
        frame = timeline(run, bucket)
        for row, (column, _) in enumerate(PANELS, start=1):
            fig.add_trace(go.Scatter(
                x=frame["t_s"].tolist(), mode="lines",  # a step with no value is a gap
                y=[None if v != v else v for v in frame[column].tolist()],
                name=run.strategy if run.broker == "memory" else f"{run.strategy} (nats)",
                legendgroup=str(i), showlegend=row == 1,
                line={"color": colors[i % 6], "dash": dashes[i % 6], "width": 2},
                line_shape="hv" if column == "breaker_open" else "linear"), row=row, col=1)
    for row, (_, label) in enumerate(PANELS, start=1):
        fig.update_yaxes(title_text=label, title_font_size=10, rangemode="tozero", row=row,
                         col=1)
    fig.update_yaxes(tickvals=[0, 1], ticktext=["closed", "open"], range=[-0.1, 1.1],
                     row=1 + [c for c, _ in PANELS].index("breaker_open"), col=1)
    fig.update_xaxes(title_text="virtual time (s since the first payment)",
                     row=len(PANELS), col=1)
    if runs and runs[0].fault == "outage":
        start, end = runs[0].setup.outage
        fig.add_vrect(x0=start, x1=end, fillcolor="grey", opacity=0.15, line_width=0)
    elif runs and runs[0].fault == "crash":
        fig.add_vline(x=runs[0].fault_end, line_dash="dot", line_color="grey")
    fig.update_layout(title={"text": title, "y": 0.995, "yanchor": "top"},
                      height=130 * len(PANELS) + 140, template="plotly_white",
                      margin={"l": 80, "r": 20, "t": 90, "b": 50},
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"})
    return fig


def _table(rep: dict[str, Any]) -> str:
    cols = [("fault", 10), ("strategy", 32), ("broker", 7), ("events", 7), ("lost", 5),
            ("dead_lettered", 6), ("duplicates_applied", 5), ("dependency_calls", 7),
            ("p50_ms", 9), ("p99_ms", 9), ("throughput_per_s", 8), ("recovery_s", 9)]
    heads = ["fault", "strategy", "broker", "events", "lost", "DLQ", "dups", "calls",
             "p50 ms", "p99 ms", "ev/s", "recover s"]
    s = rep["setup"]
    lines = [f"edalab bench resilience: {s['events']} payments at {s['rate_per_s']:g}/s of "
             f"virtual time, {s['partitions']} partitions, a dependency call costs "
             f"{s['service_ms']:g} ms; outage {s['outage_s'][0]:g}-{s['outage_s'][1]:g} s",
             "  " + "".join(f"{h:>{w}} " if i > 2 else f"{h:<{w}} "
                            for i, (h, (_, w)) in enumerate(zip(heads, cols, strict=True)))]
    for row in rep["scenarios"]:
        cells = []
        for i, (key, width) in enumerate(cols):
            value = row[key]
            text = "-" if value is None else (f"{value:,.1f}" if isinstance(value, float)
                                              else str(value))
            cells.append(f"{text:<{width}} " if i <= 2 else f"{text:>{width}} ")
        lines.append("  " + "".join(cells))
    for skip in rep["skipped"]:
        lines.append(f"  skipped: {skip['fault']} x {skip['strategy']} on {skip['broker']}: "
                     f"{skip['reason']}")
    for t in rep["targets"]:
        state = "n/a" if t["ok"] is None else ("ok" if t["ok"] else "MISSED")
        lines.append(f"  target {t['target']}: {t['value']}  {state}")
    lines.append(f"  wall time {rep['wall_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every target holds, 1 when one is missed, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="edalab bench resilience", formatter_class=DefaultsFormatter,
        description="Exception-handling strategies (DLQ only, blocking retry, retry topics, "
                    "+ breaker, + idempotent sink) under four faults (transient, outage, "
                    "poison, crash), on the app's virtual clock.")
    parser.add_argument("--events", type=int, default=Setup.events,
                        help="payments per scenario (20 per second of virtual time)")
    parser.add_argument("--nats", action="store_true",
                        help="also run the transient fault (in process) and the crash fault "
                             "(edalab worker processes, one SIGKILLed) on NATS JetStream; "
                             "starts its own nats-servers; about 3 minutes more")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        setup = Setup(events=args.events)
    except ValueError as exc:
        print(f"edalab bench resilience: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rep = report(run_all(setup, nats=args.nats))
    rep["wall_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(rep, indent=2) if args.json else _table(rep))
    return 0 if all(t["ok"] is not False for t in rep["targets"]) else 1
