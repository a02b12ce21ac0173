"""`card_scoring`: card transactions scored against each customer's own history.

The pipeline of `edalab demo`, made to be served by worker processes::

    transactions ──▶ score (group "scoring")  ──▶ scores  (every transaction, with its z-score)
    scores       ──▶ alert (group "alerting") ──▶ alerts  (the scores above the threshold)

`score` keeps a running mean and variance of each customer's amounts (``river.stats.Var``) and
scores an amount by how many standard deviations it lies above that customer's mean. Every
event it emits carries the ``worker`` extension attribute (the emitting process, by default
``<host>-<pid>``), so a reader of ``scores`` sees which worker did what, and when. Output ids
derive from the transaction id (``score-tx-17``, ``alert-tx-17``): an event delivered twice
(after a worker crash) is scored twice under one id, and a sink deduplicates by id.

By default the profiles live in the worker's memory, as in any stateless-infrastructure
worker: when a partition moves to another worker, its customers' profiles start again from
nothing. With ``state=`` they live in `edalab.state` and move with their partitions
(`durable_card_scoring` keeps them on the NATS server, for ``edalab worker``).
"""

from __future__ import annotations

import os
import socket

from river import stats as rstats

from edalab.brokers.base import Broker
from edalab.events import Event
from edalab.runtime.app import App
from edalab.state import KeyState, State

__all__ = ["card_scoring", "durable_card_scoring"]


def card_scoring(broker: Broker | None = None, *, z: float = 3.0, warmup: int = 5,
                 partitions: int = 4, worker: str | None = None,
                 state: bool | State = False) -> App:
    """The card-scoring App on `broker` (a new `MemoryBroker` when None).

    Parameters
    ----------
    broker
        Any edalab broker; `edalab worker` passes the NATS broker of ``--broker``.
    z
        Alert threshold: standard deviations above the customer's mean amount.
    warmup
        Transactions a customer needs before their amounts are scored (``z`` is None before).
    partitions
        Partitions of the topics the app creates when the broker does not have them yet.
    worker
        Name stamped on every emitted event (extension ``worker``); ``<host>-<pid>`` by
        default.
    state
        Keep the profiles in `edalab.state` (True: the embedded default; or a `State` with
        its backend): checkpointed with the offsets, restored by the worker that takes a
        partition over, so a crash changes no score. False: in the process's memory.

    Examples
    --------
    >>> from edalab import MemoryBroker
    >>> from edalab.streams import transaction_events, transactions
    >>> df = transactions(customers=50, terminals=100, days=20, seed=3)
    >>> app = card_scoring(MemoryBroker(), worker="w1")
    >>> app.source("transactions", transaction_events(df))
    >>> stats = app.run()
    >>> stats.to_frame()[["events_in", "events_out", "lag"]].loc["score"].tolist()
    [1266, 1266, 0]
    >>> stats.to_frame()[["events_in", "events_out", "lag"]].loc["alert"].tolist()
    [1266, 47, 0]
    >>> alerts = [r.event for r in app.broker.read("alerts")]
    >>> alerts[0].id, alerts[0].data, alerts[0].extensions
    ('alert-tx-220', {'tx_id': 220, 'amount': 325.15, 'z': 4.94, 'fraud': 1}, {'worker': 'w1'})
    >>> sum(a.data["fraud"] for a in alerts), len(alerts)  # real frauds among the alerts
    (45, 47)
    """
    if warmup < 2:
        raise ValueError(f"warmup must be >= 2 (a spread needs two amounts), got {warmup}")
    stamp = {"worker": worker or f"{socket.gethostname()}-{os.getpid()}"}
    app = App(broker, partitions=partitions)

    def scored(event: Event, profile: rstats.Var) -> Event:
        data = event.data
        amount = data["TX_AMOUNT"]
        score = None
        if profile.mean.n >= warmup:
            spread = max(profile.get() ** 0.5, 1.0)  # a floor: some customers barely vary
            score = round((amount - profile.mean.get()) / spread, 2)
        profile.update(amount)
        return event.replace(type="card.scored", id=f"score-{event.id}", extensions=stamp,
                             data={"tx_id": data["TX_ID"], "amount": amount, "z": score,
                                   "fraud": data["TX_FRAUD"]})

    if state:  # the profiles in edalab.state: checkpointed, restored where partitions go
        @app.handler("transactions", group="scoring", output="scores",
                     state=state if isinstance(state, State) else State())
        def score(event: Event, profile: KeyState) -> Event:
            var = profile.get(None)
            if var is None:  # a customer's first transaction (whatever State's default)
                var = rstats.Var()
                profile.set(var)
            return scored(event, var)
    else:  # the profiles in this process's memory
        profiles: dict[str | None, rstats.Var] = {}

        @app.handler("transactions", group="scoring", output="scores")
        def score(event: Event) -> Event:
            profile = profiles.get(event.key)
            if profile is None:
                profile = profiles[event.key] = rstats.Var()
            return scored(event, profile)

    @app.handler("scores", group="alerting", output="alerts")
    def alert(event: Event) -> Event | None:
        score = event.data["z"]
        if score is not None and score > z:
            return event.replace(type="card.alert", id=f"alert-tx-{event.data['tx_id']}",
                                 extensions=stamp)
        return None

    return app


def durable_card_scoring(broker: Broker, **options: object) -> App:
    """`card_scoring` with its profiles on the NATS server of `broker` (`NatsState`), for
    ``edalab worker edalab.apps.card_scoring:durable_card_scoring --broker URL``: a worker's
    death loses no profile (the `edalab.state` checkpoints of every 1,000 events; what came
    after is replayed by the next owner)."""
    from edalab.state import NatsState

    return card_scoring(broker, state=State(NatsState(broker)), **options)  # type: ignore[arg-type]
