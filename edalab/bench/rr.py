"""`edalab bench rr`: the same fraud scoring as a monolith, over HTTP and event-driven.

Cabane & Farias (FGCS 2024) built one application as a monolith and as event-driven services and
found the monolith cheaper and faster. This benchmark repeats the comparison on edalab's fraud
scoring (the handbook's features and a logistic regression): ``monolith`` (one process calls the
scorer), ``http`` (a Starlette service on uvicorn, called per transaction by a client with 16
kept-alive connections and a 1 s timeout), ``eda-memory`` (producer -> embedded broker -> worker
thread -> result topic) and ``eda-nats`` (producer -> NATS -> ``edalab worker`` process ->
result topic). Loads are open: transactions are sent on schedule whatever the answers do.
Faults: ``burst`` (5x the load in the middle third of the run) and ``slow`` (the scorer 10x
slower there). Each run has processes of its own; CPU seconds and peak RSS are summed over them,
measured from outside while the load runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from edalab.bench._help import DefaultsFormatter

__all__ = ["STYLES", "compare_latencies", "main", "measure_style"]

STYLES = ("monolith", "http", "eda-memory", "eda-nats")
FAULTS = ("none", "burst", "slow")


class _Monitor:
    """CPU seconds and RSS of a process and its descendants, sampled every `every` s."""

    def __init__(self, pid: int, every: float = 0.1):
        import psutil

        self._root = psutil.Process(pid)
        self.samples: list[tuple[float, dict[int, tuple[float, float, str]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every,), daemon=True)
        self._thread.start()

    def _loop(self, every: float) -> None:
        import psutil

        while not self._stop.is_set():
            snap: dict[int, tuple[float, float, str]] = {}
            try:
                procs = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                if not self._root.is_running():
                    break
                continue  # a descendant ended while they were listed: list them again
            for p in procs:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        snap[p.pid] = (t.user + t.system, p.memory_info().rss / 2**20,
                                       _role(p.cmdline()))
                except psutil.Error:
                    continue
            self.samples.append((time.time(), snap))
            self._stop.wait(every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per role: CPU seconds used in [start, end] and the peak RSS there (MiB)."""
        inside = [(t, s) for t, s in self.samples if start - 0.2 <= t <= end + 0.2]
        first: dict[int, float] = {}
        last: dict[int, float] = {}
        peak: dict[int, float] = {}
        roles: dict[int, str] = {}
        for _, snap in inside:
            for pid, (cpu, rss, role) in snap.items():
                first.setdefault(pid, cpu)
                last[pid] = cpu
                peak[pid] = max(peak.get(pid, 0.0), rss)
                roles[pid] = role
        out: dict[str, dict[str, float]] = {}
        for pid, role in roles.items():
            row = out.setdefault(role, {"cpu_s": 0.0, "peak_rss_mib": 0.0})
            row["cpu_s"] += last[pid] - first[pid]
            row["peak_rss_mib"] += peak[pid]
        return out


def _role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "nats-server" in text:
        return "nats-server"
    if "_rr_http" in text:
        return "http-service"
    if " worker " in f" {text} ":
        return "worker"
    return "driver"


def measure_style(style: str, load: float, duration: float, fault: str, seed: int = 0) -> dict:
    """One run in a fresh process: the report's row (and the latencies, for the tests)."""
    child = subprocess.Popen([sys.executable, "-m", "edalab.bench._rr_run", style, str(load),
                              str(duration), fault, str(seed)], stdout=subprocess.PIPE,
                             text=True)
    monitor = _Monitor(child.pid)
    out, _ = child.communicate()
    monitor.stop()
    if child.returncode:
        raise RuntimeError(f"the {style} run at {load:g}/s ({fault}) failed "
                           f"(exit {child.returncode})")
    r = json.loads(out)
    lat = np.asarray(r["latency_s"]) * 1000
    usage = monitor.usage(r["start"], r["end"])
    return {"style": style, "load": load, "fault": fault, "sent": r["sent"],
            "answered": len(lat),
            "throughput_per_s": round(len(lat) / r["span_s"], 1) if r["span_s"] > 0 else 0.0,
            "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "p99_ms": _pct(lat, 99),
            "cpu_s": round(sum(u["cpu_s"] for u in usage.values()), 2),
            "peak_rss_mib": round(sum(u["peak_rss_mib"] for u in usage.values()), 1),
            "processes": {k: {m: round(v, 2) for m, v in u.items()} for k, u in usage.items()},
            "errors": r["errors"], "max_lag": r["max_lag"], "latency_ms": lat.tolist()}


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def compare_latencies(runs: list[dict], alpha: float = 0.01) -> list[dict]:
    """Per (load, fault) and style, Mann-Whitney U on the answered transactions' latencies:
    is the monolith faster (one-sided)? A claim only where p < `alpha`."""
    from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]  # scikit-learn brings scipy

    out = []
    for r in runs:
        if r["style"] == "monolith":
            continue
        mono = next((m for m in runs if m["style"] == "monolith" and m["load"] == r["load"]
                     and m["fault"] == r["fault"]), None)
        if mono is None or not mono["latency_ms"] or not r["latency_ms"]:
            continue
        p = float(mannwhitneyu(mono["latency_ms"], r["latency_ms"], alternative="less").pvalue)
        out.append({"load": r["load"], "fault": r["fault"], "versus": r["style"],
                    "p_monolith_faster": p, "monolith_faster": p < alpha})
    return out


def _plan(loads: list[float], quick: bool) -> list[tuple[float, str]]:
    """Every load without a fault, and both faults at the middle load."""
    middle = sorted(loads)[len(loads) // 2]
    return [(load, "none") for load in loads] + [(middle, f) for f in FAULTS[1:]]


def _table(rep: dict[str, Any]) -> str:
    head = (f"  {'style':<11}{'load':>6} {'fault':<6}{'tx/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'cpu s':>7}{'RSS MiB':>9}{'errors':>7}{'max lag':>8}")
    lines = ["edalab bench rr: fraud scoring, monolith vs HTTP vs event-driven", head]
    for r in rep["runs"]:
        def f(v):
            return "-" if v is None else f"{v:,.1f}"
        lines.append(f"  {r['style']:<11}{r['load']:>6g} {r['fault']:<6}"
                     f"{r['throughput_per_s']:>8,.0f}{f(r['p50_ms']):>9}{f(r['p99_ms']):>9}"
                     f"{r['cpu_s']:>7.2f}{r['peak_rss_mib']:>9.0f}{r['errors']:>7}"
                     f"{r['max_lag']:>8}")
    lines.append("  Mann-Whitney U (one-sided, monolith faster?), per request of one run each:")
    for c in rep["tests"]:
        lines.append(f"    {c['load']:>6g}/s {c['fault']:<6} vs {c['versus']:<11} "
                     f"p = {c['p_monolith_faster']:.2g}  "
                     + ("monolith faster" if c["monolith_faster"] else "no claim"))
    lines += [f"  note: {n}" for n in rep["notes"]]
    lines.append(f"  wall time {rep['wall_s']} s")
    return "\n".join(lines)


NOTES = [
    "latency counts from the scheduled send (open loop), so queueing is included; "
    "an HTTP request that takes over 1 s is a timeout error, an event that waits is lag",
    "every process of a style runs on this machine's cores: a style with more processes "
    "pays for them in CPU and RSS, which is Cabane & Farias's resource finding",
    "Mann-Whitney here compares the requests of one run per style; requests within a run "
    "are not independent, so treat p as a guide and repeat runs before a claim"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran, 1 when a run failed, 2 on bad input."""
    p = argparse.ArgumentParser(
        prog="edalab bench rr", formatter_class=DefaultsFormatter,
        description="Fraud scoring as a monolith, an HTTP service and event-driven (memory, "
                    "NATS), at open-loop loads and under a burst and a slow scorer.")
    p.add_argument("--style", nargs="+", choices=STYLES, default=list(STYLES),
                   help="styles: monolith: one process calls the scorer; http: Starlette on "
                        "uvicorn, one request per transaction; eda-memory: embedded broker, "
                        "a worker thread; eda-nats: NATS, an edalab worker process")
    p.add_argument("--loads", nargs="+", type=float, default=[250, 1000, 2000],
                   help="offered loads, transactions/s")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds per run (a fault lasts its middle third)")
    p.add_argument("--quick", action="store_true", help="6-second runs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    duration = 6.0 if args.quick else args.duration
    if not duration > 0 or any(x <= 0 for x in args.loads):
        print("edalab bench rr: --duration and --loads must be > 0", file=sys.stderr)
        return 2
    started = time.perf_counter()
    runs = []
    try:
        for load, fault in _plan(args.loads, args.quick):
            for style in args.style:
                runs.append(measure_style(style, load, duration, fault))
                print(f"  ran {style} at {load:g}/s ({fault})", file=sys.stderr, flush=True)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"edalab bench rr: {exc}", file=sys.stderr)
        return 1
    rep = {"runs": runs, "tests": compare_latencies(runs), "notes": NOTES,
           "duration_s": duration, "wall_s": round(time.perf_counter() - started, 1)}
    for r in runs:
        del r["latency_ms"]
    print(json.dumps(rep, indent=2) if args.json else _table(rep))
    return 0
