"""``edalab bench simulate``: the vectorised transaction simulator against the handbook's loop.

Two contenders build the same design (`edalab.streams.transactions`) in one process:

- ``vectorised``: `edalab.streams.transactions`, whole-array numpy, run ``--repeats`` times
  after a small warm-up; the table shows the best and the median.
- ``loop`` (the baseline): `handbook_loop` below, the handbook's code written out literally,
  one customer at a time (scalar draws, a DataFrame per customer, then ``add_frauds`` with one
  pandas pass per day). It runs once: at the book setting it takes tens of seconds.

Targets, at the default book setting (5,000 customers, 10,000 terminals, 183 days): the
vectorised build takes at most 20 s and is at least 20x faster than the loop. Peak memory is
the tracemalloc peak of one more (untimed) vectorised run; ``maxrss`` is the process's.

>>> main(["--customers", "30", "--terminals", "200", "--days", "5", "--repeats", "1",
...       "--json"])  # doctest: +ELLIPSIS
{...
  "benchmark": "simulate",
...
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import sys
import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from edalab.streams.transactions import transactions

__all__ = ["handbook_loop", "main"]

MAX_SECONDS = 20.0
MIN_SPEEDUP = 20.0


# -- the baseline: the handbook's design, one customer at a time ------------------------------


def handbook_loop(n_customers: int = 5000, n_terminals: int = 10000, days: int = 183,
                  radius: float = 5.0, start: str = "2018-04-01", seed: int = 0,
                  progress: bool = False, timings: dict[str, float] | None = None
                  ) -> pd.DataFrame:
    """The handbook's generator and ``add_frauds``, transcribed loop for loop (the baseline).

    Same distributions and fraud scenarios as `edalab.streams.transactions`, different random
    draws. Generators are local (the handbook reseeds numpy's and `random`'s global state).
    If `timings` is a dict, the seconds of each phase are stored in it (``profiles``,
    ``transactions``: the per-customer loop, ``frauds``: ``add_frauds``).

    Examples
    --------
    >>> from edalab.streams.transactions import COLUMNS
    >>> df = handbook_loop(n_customers=20, n_terminals=200, days=5, seed=1)
    >>> list(df.columns) == COLUMNS, df.TX_DATETIME.is_monotonic_increasing
    (True, True)
    """
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        if timings is not None:
            timings[name] = clock[-1] - clock[-2]

    # generate_customer_profiles_table
    rs = np.random.RandomState(seed)
    customer_rows = []
    for customer_id in range(n_customers):
        x = rs.uniform(0, 100)
        y = rs.uniform(0, 100)
        mean_amount = rs.uniform(5, 100)
        std_amount = mean_amount / 2
        mean_nb_tx_per_day = rs.uniform(0, 4)
        customer_rows.append([customer_id, x, y, mean_amount, std_amount, mean_nb_tx_per_day])
    customers = pd.DataFrame(customer_rows, columns=[
        "CUSTOMER_ID", "x_customer_id", "y_customer_id", "mean_amount", "std_amount",
        "mean_nb_tx_per_day"])
    # generate_terminal_profiles_table
    rs = np.random.RandomState(seed + 1)
    terminal_rows = [[tid, rs.uniform(0, 100), rs.uniform(0, 100)] for tid in range(n_terminals)]
    terminals = pd.DataFrame(terminal_rows, columns=["TERMINAL_ID", "x_terminal_id",
                                                     "y_terminal_id"])
    # get_list_terminals_within_radius, applied per customer
    x_y_terminals = terminals[["x_terminal_id", "y_terminal_id"]].values.astype(float)

    def within(profile: pd.Series) -> list[int]:
        x_y = profile[["x_customer_id", "y_customer_id"]].values.astype(float)
        dist = np.sqrt(np.sum(np.square(x_y - x_y_terminals), axis=1))
        return list(np.where(dist < radius)[0])

    customers["available_terminals"] = customers.apply(within, axis=1)
    lap("profiles")
    # generate_transactions_table, per customer
    frames = []
    for profile in tqdm(customers.itertuples(index=False), total=n_customers,
                        desc="handbook loop", disable=not progress, leave=False):
        frame = _customer_transactions(profile, start, days, seed)
        if len(frame):  # the handbook's groupby-apply drops customers without transactions
            frames.append(frame)
    df = pd.concat(frames)
    df = df.sort_values("TX_DATETIME").reset_index(drop=True)
    df.insert(0, "TX_ID", np.arange(len(df), dtype=np.int64))
    lap("transactions")
    df = _handbook_add_frauds(customers, terminals, df, seed)
    lap("frauds")
    return df


def _customer_transactions(profile: Any, start: str, days: int, seed: int) -> pd.DataFrame:
    rs = np.random.RandomState([seed, profile.CUSTOMER_ID])
    rnd = random.Random(seed * 1_000_003 + profile.CUSTOMER_ID)
    rows = []
    for day in range(days):
        nb_tx = rs.poisson(profile.mean_nb_tx_per_day)
        for _ in range(nb_tx):
            time_tx = int(rs.normal(86400 / 2, 20000))
            if 0 < time_tx < 86400:
                amount = rs.normal(profile.mean_amount, profile.std_amount)
                if amount < 0:
                    amount = rs.uniform(0, profile.mean_amount * 2)
                amount = np.round(amount, decimals=2)
                if len(profile.available_terminals) > 0:
                    terminal_id = rnd.choice(profile.available_terminals)
                    rows.append([time_tx + day * 86400, day, profile.CUSTOMER_ID, terminal_id,
                                 amount])
    out = pd.DataFrame(rows, columns=["TX_TIME_SECONDS", "TX_TIME_DAYS", "CUSTOMER_ID",
                                      "TERMINAL_ID", "TX_AMOUNT"])
    if not rows:
        return out
    out["TX_DATETIME"] = pd.to_datetime(out["TX_TIME_SECONDS"], unit="s", origin=start)
    return out[["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS",
                "TX_TIME_DAYS"]]


def _handbook_add_frauds(customers: pd.DataFrame, terminals: pd.DataFrame, df: pd.DataFrame,
                         seed: int) -> pd.DataFrame:
    df["TX_FRAUD"] = 0
    df["TX_FRAUD_SCENARIO"] = 0
    # Scenario 1
    df.loc[df.TX_AMOUNT > 220, "TX_FRAUD"] = 1
    df.loc[df.TX_AMOUNT > 220, "TX_FRAUD_SCENARIO"] = 1
    tx_day = df.TX_TIME_DAYS
    # Scenario 2
    for day in range(df.TX_TIME_DAYS.max()):
        compromised = terminals.TERMINAL_ID.sample(n=2, random_state=seed * 100_003 + day)
        hit = df[(tx_day >= day) & (tx_day < day + 28)
                 & df.TERMINAL_ID.isin(compromised)]
        df.loc[hit.index, "TX_FRAUD"] = 1
        df.loc[hit.index, "TX_FRAUD_SCENARIO"] = 2
    # Scenario 3
    for day in range(df.TX_TIME_DAYS.max()):
        compromised = customers.CUSTOMER_ID.sample(n=3, random_state=seed * 100_003 + day).values
        hit = df[(tx_day >= day) & (tx_day < day + 14)
                 & df.CUSTOMER_ID.isin(compromised)]
        chosen = random.Random(seed * 100_003 + day).sample(list(hit.index.values),
                                                           k=int(len(hit) / 3))
        df.loc[chosen, "TX_AMOUNT"] = df.loc[chosen, "TX_AMOUNT"] * 5
        df.loc[chosen, "TX_FRAUD"] = 1
        df.loc[chosen, "TX_FRAUD_SCENARIO"] = 3
    return df


# -- the benchmark --------------------------------------------------------------------------


def _timed(build) -> tuple[float, pd.DataFrame]:
    gc.collect()
    start = time.perf_counter()
    df = build()
    return time.perf_counter() - start, df


def _summary(df: pd.DataFrame) -> dict:
    counts = df.TX_FRAUD_SCENARIO.value_counts()
    return {"rows": len(df), "fraud_rate": round(float(df.TX_FRAUD.mean()), 5),
            "scenarios": {str(s): int(counts.get(s, 0)) for s in (1, 2, 3)}}


def main(argv: list[str]) -> int:
    """Run the benchmark; returns 0 when both targets hold (1 otherwise)."""
    from edalab.bench._help import DefaultsFormatter
    parser = argparse.ArgumentParser(prog="edalab bench simulate", description=__doc__.split(
        "\n\n")[0].replace("``", "`"), formatter_class=DefaultsFormatter)
    parser.add_argument("--customers", type=int, default=5000, help="simulated card holders")
    parser.add_argument("--terminals", type=int, default=10000, help="simulated terminals")
    parser.add_argument("--days", type=int, default=183, help="simulated days")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument("--repeats", type=int, default=3, help="timed vectorised runs")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="time only the vectorised generator")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    setting = {"customers": args.customers, "terminals": args.terminals, "days": args.days,
               "radius": 5.0, "start": "2018-04-01", "seed": args.seed}

    transactions(customers=50, terminals=100, days=3, seed=args.seed)  # warm-up
    vec_times = []
    for _ in range(max(1, args.repeats)):
        seconds, vec = _timed(lambda: transactions(**setting))
        vec_times.append(seconds)
    del vec
    tracemalloc.start()
    vec = transactions(**setting)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    results = [{"name": "vectorised", "label": "edalab.streams.transactions (numpy)",
                "seconds_best": min(vec_times), "seconds_median": statistics.median(vec_times),
                "runs": len(vec_times), **_summary(vec)}]
    del vec
    if not args.skip_baseline:
        phases: dict[str, float] = {}
        # The handbook's own parameter names (n_customers, n_terminals) for its transcript.
        loop_setting = {**setting, "n_customers": setting["customers"],
                        "n_terminals": setting["terminals"]}
        del loop_setting["customers"], loop_setting["terminals"]
        seconds, loop = _timed(lambda: handbook_loop(**loop_setting, progress=not args.json,
                                                     timings=phases))
        results.append({"name": "loop", "label": "handbook per-customer loop (baseline)",
                        "seconds_best": seconds, "seconds_median": seconds, "runs": 1,
                        "phases_seconds": {k: round(v, 3) for k, v in phases.items()},
                        **_summary(loop)})
        del loop
    for r in results:
        r["rows_per_s"] = r["rows"] / r["seconds_median"]
    vec_median = results[0]["seconds_median"]
    targets = [{"target": f"vectorised <= {MAX_SECONDS:g} s", "value": round(vec_median, 3),
                "ok": vec_median <= MAX_SECONDS}]
    if not args.skip_baseline:
        ratio = results[1]["seconds_median"] / vec_median
        for r in results:
            r["speedup_vs_loop"] = results[1]["seconds_median"] / r["seconds_median"]
        targets.append({"target": f"vectorised >= {MIN_SPEEDUP:g}x loop",
                        "value": round(ratio, 2), "ok": ratio >= MIN_SPEEDUP})
    scale = 2**20 if sys.platform == "darwin" else 2**10  # ru_maxrss: bytes on macOS, else KiB
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    memory = {"vectorised_peak_tracemalloc_mb": round(peak_mb, 1),
              "process_maxrss_mb": round(maxrss_mb, 1)}

    if args.json:
        for r in results:
            for k in ("seconds_best", "seconds_median", "rows_per_s", "speedup_vs_loop"):
                if k in r:
                    r[k] = round(r[k], 4 if k.startswith("seconds") else 2)
        print(json.dumps({"benchmark": "simulate", "setting": setting, "results": results,
                          "memory": memory, "targets": targets}, indent=2))
    else:
        print("edalab bench simulate: card transactions, the handbook's design")
        print("  " + ", ".join(f"{k}={v}" for k, v in setting.items()))
        print(f"  {'':12}{'rows':>11}{'best s':>10}{'median s':>10}{'rows/s':>14}"
              f"{'x loop':>9}  {'fraud':>7}  scenarios 1/2/3")
        for r in results:
            sc = r["scenarios"]
            speedup = f"{r['speedup_vs_loop']:.1f}" if "speedup_vs_loop" in r else "-"
            print(f"  {r['name']:<12}{r['rows']:>11,}{r['seconds_best']:>10.2f}"
                  f"{r['seconds_median']:>10.2f}{r['rows_per_s']:>14,.0f}{speedup:>9}  "
                  f"{r['fraud_rate']:>7.4f}  {sc['1']}/{sc['2']}/{sc['3']}")
        if not args.skip_baseline:
            phases = results[1]["phases_seconds"]
            print("  loop phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
                  + f"; vectorised vs the loop's transactions phase alone: "
                  f"{phases['transactions'] / vec_median:.1f}x")
        print(f"  peak memory: vectorised run {memory['vectorised_peak_tracemalloc_mb']:.0f} MB"
              f" (tracemalloc), process maxrss {memory['process_maxrss_mb']:.0f} MB")
        for t in targets:
            print(f"  target {t['target']}: {t['value']}  {'ok' if t['ok'] else 'MISSED'}")
    return 0 if all(t["ok"] for t in targets) else 1
