"""The *Fraud Detection Handbook*'s 15 baseline features, in batch and online.

Chapter 3.4 ("Baseline feature transformation") of Le Borgne et al. turns each transaction into
15 numbers: its amount, whether it happened on a weekend or at night (hour <= 6), the customer's
number of transactions and mean amount over the last 1, 7 and 30 days (the current transaction
included), and the terminal's number of transactions and fraud rate over 1, 7 and 30 days
*ending a delay D before the transaction* (D = 7 days, the time it takes to know a label): over
the terminal's transactions in ``(t - D - N days, t - D]``.

`handbook_features` computes them for a whole frame with sorted arrays, `numpy.searchsorted` and
cumulative sums (about a second for the book's 1.75 M transactions; pandas' groupby-rolling,
the handbook's code, takes about 30 s). `FraudFeatures` computes them one event at a time in an
`App` handler, from ``card.transaction`` events and the ``fraud.label`` events that arrive
later on the same topic: the terminal windows only ever hold labels the stream has delivered,
so nothing leaks from the future.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.operators.base import Operator

__all__ = ["FEATURES", "WINDOWS", "FraudFeatures", "handbook_features"]

#: Window lengths (days) of the customer and terminal features.
WINDOWS = (1, 7, 30)
#: The 15 feature names, in the handbook's order (``input_features`` of chapter 3.4).
FEATURES = [
    "TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT",
    *[f"CUSTOMER_ID_{kind}_{n}DAY_WINDOW" for n in WINDOWS for kind in ("NB_TX", "AVG_AMOUNT")],
    *[f"TERMINAL_ID_{kind}_{n}DAY_WINDOW" for n in WINDOWS for kind in ("NB_TX", "RISK")],
]
_DAY_US = 86_400_000_000
_ONE_DAY = pd.Timedelta(days=1)
_SOURCE = "/edalab/fraud/features"
_REQUIRED = ("TX_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")


def _delay_days(delay: Any) -> float:
    return parse_duration(delay, name="delay", number_unit="D", allow_zero=True) / _ONE_DAY


def handbook_features(df: pd.DataFrame, delay: Any = 7) -> pd.DataFrame:
    """The handbook's 15 features of every transaction of `df`, vectorised.

    Parameters
    ----------
    df
        Transactions with ``TX_DATETIME``, ``CUSTOMER_ID``, ``TERMINAL_ID``, ``TX_AMOUNT`` and
        ``TX_FRAUD`` (as `edalab.streams.transactions` returns), in any order.
    delay
        The label delay D of the terminal features: days (a number) or a duration (``"7D"``).

    Returns
    -------
    pandas.DataFrame
        `FEATURES` as columns (float64), `df`'s index. Windows follow pandas' time-based
        rolling, as the handbook's code does: a window of N days ending at a transaction holds
        the key's transactions in ``(t - N days, t]`` up to and including that row (rows with
        the same time after it are not counted). A terminal's risk is 0 when its delayed window
        is empty.

    Examples
    --------
    >>> from edalab.streams import transactions
    >>> df = transactions(customers=50, terminals=100, days=40, seed=3)
    >>> x = handbook_features(df)
    >>> x.shape, list(x.columns) == FEATURES
    ((2492, 15), True)
    >>> x.iloc[-1][["CUSTOMER_ID_NB_TX_30DAY_WINDOW", "TERMINAL_ID_RISK_30DAY_WINDOW"]].round(3)
    CUSTOMER_ID_NB_TX_30DAY_WINDOW    72.000
    TERMINAL_ID_RISK_30DAY_WINDOW      0.335
    Name: 2491, dtype: float64
    """
    missing = {"TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"} - set(
        df.columns)
    if missing:
        raise ValueError(f"handbook_features: df lacks the columns {sorted(missing)}")
    delay_us = round(_delay_days(delay) * _DAY_US)
    stamps = pd.DatetimeIndex(df["TX_DATETIME"])
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    t = stamps.as_unit("us").asi8
    t = t - t.min() if t.size else t
    amount = df["TX_AMOUNT"].to_numpy(dtype=float)
    fraud = df["TX_FRAUD"].to_numpy(dtype=np.int64)
    # One column-major block: each feature is written into a contiguous column, and the
    # frame takes the block without copying it.
    block = np.empty((len(FEATURES), t.size)).T
    column = {name: block[:, j] for j, name in enumerate(FEATURES)}
    column["TX_AMOUNT"][:] = amount
    column["TX_DURING_WEEKEND"][:] = stamps.day_of_week >= 5
    column["TX_DURING_NIGHT"][:] = stamps.hour <= 6
    span = int(t.max()) + delay_us + max(WINDOWS) * _DAY_US + 1 if t.size else 1
    by_time = np.argsort(t, kind="stable")

    # Customers: a window of N days ending at row i is (t_i - N days, t_i], rows up to i.
    order, comp = _grouped(df["CUSTOMER_ID"].to_numpy(), t, by_time, span)
    cum_amount = np.concatenate([[0.0], np.cumsum(amount[order])])
    here = np.arange(1, order.size + 1)
    for n in WINDOWS:
        start = np.searchsorted(comp, comp - n * _DAY_US, side="right")
        count = here - start
        column[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"][order] = count
        column[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"][order] = (
            (cum_amount[here] - cum_amount[start]) / count)

    # Terminals: the transactions in (t_i - D - N days, t_i - D].
    order, comp = _grouped(df["TERMINAL_ID"].to_numpy(), t, by_time, span)
    cum_fraud = np.concatenate([[0], np.cumsum(fraud[order])])
    end = np.searchsorted(comp, comp - delay_us, side="right")
    for n in WINDOWS:
        start = np.searchsorted(comp, comp - delay_us - n * _DAY_US, side="right")
        count = end - start
        frauds = cum_fraud[end] - cum_fraud[start]
        column[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"][order] = count
        column[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"][order] = np.divide(
            frauds, count, out=np.zeros(count.size), where=count > 0)
    return pd.DataFrame(block, index=df.index, columns=FEATURES, copy=False)


def _grouped(keys: np.ndarray, t: np.ndarray, by_time: np.ndarray, span: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (key, time, row) and, for them, ``rank(key) * span + time``: one sorted
    array in which a search never crosses into another key's rows."""
    if keys.dtype.kind in "iu" and keys.size and keys.min() >= 0:
        rank = keys.astype(np.int64, copy=False)
    else:
        rank = np.unique(keys, return_inverse=True)[1].astype(np.int64).reshape(-1)
    if rank.size and int(rank.max()) + 1 > np.iinfo(np.int64).max // span:
        raise ValueError("handbook_features: too many keys for the time span (int64 overflow)")
    order = by_time[np.argsort(rank[by_time], kind="stable")]
    return order, rank[order] * span + t[order]


class _Window:
    """Items (time, value) of one key within `length` seconds; a count and a running sum."""

    __slots__ = ("items", "length", "total")

    def __init__(self, length: float):
        self.items: deque[tuple[float, float]] = deque()
        self.length = length
        self.total = 0.0

    def evict(self, bound: float) -> None:
        """Drop the items at or before `bound`."""
        items = self.items
        while items and items[0][0] <= bound:
            self.total -= items.popleft()[1]


class _Labels:
    """A terminal's delivered labels, sorted by transaction time: times and fraud flags."""

    __slots__ = ("frauds", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.frauds: list[int] = []

    def add(self, t: float, fraud: int, horizon: float) -> None:
        times, frauds = self.times, self.frauds
        if not times or t >= times[-1]:
            times.append(t)
            frauds.append(fraud)
        else:  # out of order (several partitions): keep the lists sorted
            i = bisect_right(times, t)
            times.insert(i, t)
            frauds.insert(i, fraud)
        old = bisect_right(times, horizon, 0, len(times) - 1)
        if old > 64:  # drop what no window can reach, in bulk
            del times[:old], frauds[:old]


class FraudFeatures(Operator):
    """The handbook's 15 features, online: an `App` handler on the in-band payments topic.

    On a ``card.transaction`` event it updates the customer's 1, 7 and 30-day windows (amounts)
    and returns a ``fraud.features`` event: the key and time of the transaction, id
    ``features-<tx_id>``, data ``{tx_id, customer_id, terminal_id, day, amount, x}`` where
    ``x`` maps `FEATURES` to floats. On a ``fraud.label`` event it files the label in its
    terminal's windows and returns the label unchanged (labels travel downstream in-band).

    A terminal window at time t counts the labels *delivered so far* whose transactions fall
    in ``(t - D - N days, t - D]``: with labels that arrive exactly D after their transaction
    and the stream in event-time order (labels before transactions of the same instant), that
    is every transaction of that span, as in `handbook_features`. A label that arrives later
    than D is counted only once it arrives; one that arrives earlier, only once its
    transaction is D old. Nothing is ever read from the transaction's own ``TX_FRAUD``.

    A transaction waits for its label at most D + 30 days + `lateness` of event time (about
    an eighth more, as expiry runs in sweeps): by then no window can count its label. What
    expires unlabelled is counted in ``op.stats["pending_expired"]``; a label that comes
    after that is filed as one of a transaction not seen here (at its own time minus D).

    Parameters
    ----------
    delay
        D, the delay of the terminal windows: days (a number) or a duration (``"7D"``).
    lateness
        How far out of event-time order transactions may come (a duration): labels are kept
        that much longer than the windows need. On several partitions the stage reads
        partition by partition, so another customer's transaction at a terminal may come
        after a later label; the windows are kept sorted by transaction time and counted by
        range, so the result is the same as in order (a label that has not arrived yet is
        simply not counted).

    Raises
    ------
    ValueError
        From the handler, for a transaction with a missing field or an amount that is not a
        finite number, or an event of another type; `App` dead-letters that event and the
        pipeline goes on (the operator's state is unchanged by a rejected event).

    Examples
    --------
    >>> from edalab.streams import label_events, transaction_events, transactions
    >>> df = transactions(customers=20, terminals=50, days=20, seed=1)
    >>> op = FraudFeatures(delay="7D")
    >>> tx = list(transaction_events(df))
    >>> first = op.test(tx[0])[0]
    >>> first.type, first.id, first.data["x"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
    ('fraud.features', 'features-0', 1.0)
    >>> op.test(tx[1].replace(data={**tx[1].data, "TX_AMOUNT": "12"}, id=tx[1].id))
    Traceback (most recent call last):
    ...
    ValueError: FraudFeatures: TX_AMOUNT of tx-1 must be a finite number, got '12'
    """

    def __init__(self, delay: Any = "7D", *, lateness: Any = "1D", source: str = _SOURCE):
        self.delay_days = _delay_days(delay)
        self.delay = self.delay_days * 86_400.0
        self.source = source
        self.__name__ = "features"  # the handler's name in an App
        self._customers: dict[Any, list[_Window]]
        self._terminals: dict[Any, _Labels]
        self._pending: dict[Any, tuple[float, Any]]  # tx id -> (time, terminal)
        self.restore(None)
        self.lateness = parse_duration(lateness, name="lateness", allow_zero=True).total_seconds()
        # Labels older than every window a transaction may still ask for are dropped.
        self._retention = self.delay + max(WINDOWS) * 86_400.0 + self.lateness
        # A transaction pending longer than the retention has a label no window can count:
        # dropped in a sweep every eighth of the retention (event time), not per event.
        self._sweep_every = self._retention / 8
        self._lengths = [n * 86_400.0 for n in WINDOWS]

    def __repr__(self) -> str:
        return f"FraudFeatures(delay={self.delay_days:g} days)"

    def process(self, event: Event) -> list[Event]:
        kind = event.type
        if kind == "card.transaction":
            return [self._transaction(event)]
        if kind == "fraud.label":
            self._label(event)
            return [event]
        raise ValueError(f"FraudFeatures: unexpected event type {kind!r} ({event.id}); "
                         "expected 'card.transaction' or 'fraud.label'")

    @property
    def stats(self) -> dict[str, int]:
        """Transactions waiting for their label, and those dropped unlabelled (expired)."""
        return {"pending": len(self._pending), "pending_expired": self._expired,
                "customers": len(self._customers), "terminals": len(self._terminals)}

    def snapshot(self) -> dict[str, Any]:
        """What the operator has learned (the windows, the transactions waiting for their
        label), for `edalab.state` checkpoints: the live objects, not copies."""
        return {"customers": self._customers, "terminals": self._terminals,
                "pending": self._pending, "latest": self._latest, "expired": self._expired,
                "sweep_at": self._sweep_at}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Go on from a `snapshot` (None: from nothing, as a new operator)."""
        state = state or {"customers": {}, "terminals": {}, "pending": {},
                          "latest": -math.inf, "expired": 0, "sweep_at": math.inf}
        self._customers, self._terminals = state["customers"], state["terminals"]
        self._pending, self._latest = state["pending"], state["latest"]
        self._expired, self._sweep_at = state["expired"], state["sweep_at"]

    def _expire(self) -> None:
        """Drop the pending transactions older than the retention (oldest first, in arrival
        order: one out of order may wait for the next sweep)."""
        horizon = self._latest - self._retention
        old = []
        for tx_id, (t, _) in self._pending.items():
            if t > horizon:
                break
            old.append(tx_id)
        for tx_id in old:
            del self._pending[tx_id]
        self._expired += len(old)
        self._sweep_at = self._latest + self._sweep_every

    def _transaction(self, event: Event) -> Event:
        data = event.data
        if not isinstance(data, dict):
            raise ValueError(f"FraudFeatures: transaction {event.id} has no data dict")
        lost = [name for name in _REQUIRED if data.get(name) is None]
        if lost:
            raise ValueError(f"FraudFeatures: transaction {event.id} lacks {lost}")
        amount = data["TX_AMOUNT"]
        if (isinstance(amount, bool) or not isinstance(amount, (int, float))
                or not math.isfinite(amount)):
            raise ValueError(f"FraudFeatures: TX_AMOUNT of {event.id} must be a finite "
                             f"number, got {amount!r}")
        when = event.time
        t = when.timestamp()
        customer, terminal, tx_id = data["CUSTOMER_ID"], data["TERMINAL_ID"], data["TX_ID"]
        x = {"TX_AMOUNT": float(amount), "TX_DURING_WEEKEND": float(when.weekday() >= 5),
             "TX_DURING_NIGHT": float(when.hour <= 6)}

        windows = self._customers.get(customer)
        if windows is None:
            windows = self._customers[customer] = [_Window(n) for n in self._lengths]
        for n, w in zip(WINDOWS, windows, strict=True):
            w.evict(t - w.length)
            w.items.append((t, amount))
            w.total += amount
            count = len(w.items)
            x[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = float(count)
            x[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = w.total / count

        labels = self._terminals.get(terminal)
        if labels is None:
            labels = self._terminals[terminal] = _Labels()
        known = t - self.delay  # a label counts once its transaction is D old
        times, frauds = labels.times, labels.frauds
        end = bisect_right(times, known)
        for n, length in zip(WINDOWS, self._lengths, strict=True):
            start = bisect_right(times, known - length, 0, end)
            count = end - start
            x[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = float(count)
            x[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = (
                sum(frauds[start:end]) / count if count else 0.0)
        if t > self._latest:
            self._latest = t
            if t >= self._sweep_at:
                self._expire()
            elif self._sweep_at == math.inf:
                self._sweep_at = t + self._sweep_every

        self._pending[tx_id] = (t, terminal)
        return Event("fraud.features", self.source,
                     {"tx_id": tx_id, "customer_id": customer, "terminal_id": terminal,
                      "day": data.get("TX_TIME_DAYS"), "amount": float(amount), "x": x},
                     key=event.key, time=when, id=f"features-{tx_id}")

    def _label(self, event: Event) -> None:
        data = event.data
        if not isinstance(data, dict) or data.get("tx_id") is None or data.get("fraud") is None:
            raise ValueError(f"FraudFeatures: label {event.id} needs data with 'tx_id' and "
                             "'fraud'")
        seen = self._pending.pop(data["tx_id"], None)
        if seen is None:  # its transaction was not seen here: trust the label's own fields
            if data.get("terminal_id") is None:
                raise ValueError(f"FraudFeatures: label {event.id} of an unseen transaction "
                                 "lacks 'terminal_id'")
            seen = ((event.time - timedelta(days=self.delay_days)).timestamp(),
                    data["terminal_id"])
        t, terminal = seen
        labels = self._terminals.get(terminal)
        if labels is None:
            labels = self._terminals[terminal] = _Labels()
        labels.add(t, 1 if data["fraud"] else 0, self._latest - self._retention)
