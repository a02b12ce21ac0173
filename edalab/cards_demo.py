"""`edalab demo cards`: a small real pipeline on the embedded broker, with its run statistics.

Simulated card transactions (the fraud handbook's design) flow through a `MemoryBroker`:

    transactions ──▶ profile (per-customer running mean and spread of amounts, river.stats)
                 ──▶ alerts   (amount far above the customer's own history)
                 ──▶ review   (counts alerts, checks them against the simulator's ground truth)

It prints the App's run statistics and how many alerts were real frauds.
"""

from __future__ import annotations

import argparse

from river import stats as rstats

from edalab.events import Event
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats
from edalab.streams.simulate_cli import positive
from edalab.streams.transactions import transaction_events, transactions


def build(customers: int = 500, days: int = 30, seed: int = 7, z: float = 3.0,
          partitions: int = 4) -> tuple[App, dict]:
    """The demo pipeline, ready to run; returns the app and the review tally it fills."""
    df = transactions(n_customers=customers, n_terminals=2 * customers, days=days, seed=seed)
    app = App(partitions=partitions)
    means: dict[str, rstats.Mean] = {}
    spreads: dict[str, rstats.Var] = {}
    tally = {"alerts": 0, "true_frauds": 0, "frauds_in_stream": int(df["TX_FRAUD"].sum())}

    @app.handler("transactions", group="profile", output="alerts")
    def profile(event: Event) -> Event | None:
        amount = event.data["TX_AMOUNT"]
        mean = means.setdefault(event.key, rstats.Mean())
        var = spreads.setdefault(event.key, rstats.Var())
        alert = None
        if mean.n >= 5:
            std = max(var.get() ** 0.5, 1.0)
            score = (amount - mean.get()) / std
            if score > z:
                alert = event.replace(type="card.alert", data={
                    "tx_id": event.data["TX_ID"], "amount": amount, "z": round(score, 2),
                    "fraud": event.data["TX_FRAUD"]})
        mean.update(amount)
        var.update(amount)
        return alert

    @app.handler("alerts", group="review")
    def review(event: Event) -> None:
        tally["alerts"] += 1
        tally["true_frauds"] += event.data["fraud"]

    app.source("transactions", transaction_events(df))
    return app, tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edalab demo cards", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=positive(int), default=500)
    parser.add_argument("--days", type=positive(int), default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--z", type=float, default=3.0, help="alert threshold in std devs")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="wall")
    args = parser.parse_args(argv)
    app, tally = build(args.customers, args.days, args.seed, args.z)
    stats: RunStats = app.run(clock=args.clock, progress=True)
    print(stats)
    precision = tally["true_frauds"] / tally["alerts"] if tally["alerts"] else float("nan")
    print(f"\nalerts: {tally['alerts']}, of which real frauds: {tally['true_frauds']} "
          f"(precision {precision:.2f}); frauds in the stream: {tally['frauds_in_stream']}")
    return 0
