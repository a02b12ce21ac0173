"""`edalab bench trust`: a Merkle event log's proofs against a hash chain, 10^3 to 10^6 events.

For each log size n (powers of ten up to `--max-events`): appends per second into a
`MerkleLog` (each append serialises the event to JSON and hashes it), the time to compute the
root, the size of an inclusion proof (of the median event) and a consistency proof (from n/3
events), the median time to verify an inclusion proof, and for the baseline `HashChain` the
time to verify that the oldest event is in the chain (it rehashes every later event) and the
size of that proof. Proofs grow as log2(n), the chain's cost as n.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from edalab.events import Event
from edalab.patterns.hashchain import HashChain, verify_chain_inclusion
from edalab.patterns.merkle import MerkleLog, verify_consistency, verify_inclusion

__all__ = ["incident_event", "main", "measure_log"]

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def incident_event(i: int) -> Event:
    """Event `i` of the benchmark's log (a small incident report)."""
    return Event("incident.reported", "/bench/trust", {"n": i, "severity": i % 5,
                                                       "text": f"disk full on host {i % 997}"},
                 key=f"host-{i % 997}", time=_T0 + timedelta(milliseconds=i), id=f"inc-{i}")


def _timed_us(fn, repeats: int) -> float:
    """Median microseconds of `fn()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def measure_log(n: int, probes: int = 200, seed: int = 0) -> dict:
    """One row of the report for a log of `n` events."""
    log, chain = MerkleLog(), HashChain()
    append_s, chunk = 0.0, 10_000
    for start in range(0, n, chunk):
        events = [incident_event(i) for i in range(start, min(n, start + chunk))]
        t = time.perf_counter()
        log.extend(events)
        append_s += time.perf_counter() - t
        for e in events:
            chain.append(e)
    root = log.root()
    root_us = _timed_us(log.root, 20)
    rng = random.Random(seed)
    verify_times = []
    for i in (rng.randrange(n) for _ in range(probes)):
        e, proof = incident_event(i), log.inclusion_proof(i)
        t = time.perf_counter()
        ok = verify_inclusion(e, i, n, proof, root)
        verify_times.append(time.perf_counter() - t)
        assert ok, f"inclusion proof of event {i} failed"
    inclusion = log.inclusion_proof(n // 2)
    m = max(1, n // 3)
    consistency = log.consistency_proof(m)
    assert verify_consistency(m, n, log.root(m), root, consistency)
    first, chain_proof = incident_event(0), chain.inclusion_proof(0)
    chain_s = min(_timed_s(lambda: verify_chain_inclusion(first, 0, chain_proof, chain.head))
                  for _ in range(3))
    return {"events": n, "append_per_s": round(n / append_s),
            "root_s": root_us / 1e6,
            "inclusion_proof_bytes": 32 * len(inclusion),
            "verify_inclusion_us": round(statistics.median(verify_times) * 1e6, 2),
            "consistency_proof_bytes": 32 * len(consistency),
            "chain_verify_ms": round(chain_s * 1e3, 3),
            "chain_proof_bytes": 32 * len(chain_proof),
            "log2_events": round(math.log2(n), 2)}


def _timed_s(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _table(rows: list[dict]) -> str:
    head = (f"{'events':>9} {'append/s':>10} {'root µs':>8} {'incl. B':>8} {'verify µs':>10} "
            f"{'cons. B':>8} {'chain ms':>9} {'chain B':>10}")
    lines = [head] + [
        f"{r['events']:>9,} {r['append_per_s']:>10,} {r['root_s'] * 1e6:>8.1f} "
        f"{r['inclusion_proof_bytes']:>8,} {r['verify_inclusion_us']:>10.1f} "
        f"{r['consistency_proof_bytes']:>8,} {r['chain_verify_ms']:>9.2f} "
        f"{r['chain_proof_bytes']:>10,}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench trust",
                                     description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsFormatter)
    parser.add_argument("--min-events", type=int, default=1_000, help="the smallest log")
    parser.add_argument("--max-events", type=int, default=1_000_000,
                        help="the largest log (all sizes to 10^6 take about 25 s)")
    parser.add_argument("--probes", type=int, default=200,
                        help="inclusion proofs verified per size (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.min_events < 1 or args.max_events < args.min_events:
        parser.error(f"need 1 <= --min-events <= --max-events, got {args.min_events} and "
                     f"{args.max_events}")
    if args.probes < 1:
        parser.error(f"--probes must be >= 1, got {args.probes}")
    sizes, n = [], args.min_events
    while n <= args.max_events:
        sizes.append(n)
        n *= 10
    rows = [measure_log(n, args.probes) for n in sizes]
    if args.json:
        print(json.dumps({"sizes": rows, "python": platform.python_version()}))
    else:
        print("edalab bench trust: Merkle log (RFC 6962) against a hash chain\n" + _table(rows))
    return 0
