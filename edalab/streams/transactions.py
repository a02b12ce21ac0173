"""Simulated card transactions with fraud, after the *Fraud Detection Handbook*.

The design is the one of Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook* (chapter 3, "Transaction data simulator"), so results can be set
beside the book's chapters; the book's data set is
``transactions(customers=5000, terminals=10000, days=183, radius=5, start="2018-04-01")``.
It is generated with whole-array numpy operations (no loop over customers); the literal
per-customer loop lives in `edalab.bench.simulate` as the speed baseline.

Fraud is confirmed late: `label_events` is the label stream, each label arriving `delay` after
its transaction, for online learners that must not see a label before it exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from numbers import Integral

import numpy as np
import pandas as pd

from edalab.durations import parse_duration
from edalab.events import Event
from edalab.streams.renamed import renamed

__all__ = ["COLUMNS", "label_events", "transaction_events", "transaction_profiles",
           "transactions"]

#: Column order of the frame `transactions` returns (the handbook's, with ``TX_ID``).
COLUMNS = ["TX_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS",
           "TX_TIME_DAYS", "TX_FRAUD", "TX_FRAUD_SCENARIO"]
SOURCE = "/edalab/transactions"
DAY = 86_400
#: Scenario 1: every amount above this is fraud.
FRAUD_AMOUNT = 220.0
#: Scenario 2: terminals compromised per day, and for how many days.
TERMINALS_PER_DAY, TERMINAL_DAYS = 2, 28
#: Scenario 3: customers compromised per day, for how many days, and the amount factor.
CUSTOMERS_PER_DAY, CUSTOMER_DAYS, AMOUNT_FACTOR = 3, 14, 5.0
_unchecked = Event._unchecked  # for events valid by construction: str ids and keys, UTC times
_CHUNK = 20_000  # rows converted to Python objects at a time (bounds memory, keeps lists hot)


@renamed(n_customers="customers", n_terminals="terminals")
def transactions(
    customers: int = 500,
    terminals: int = 1000,
    days: int = 60,
    radius: float = 5.0,
    start: str | datetime = "2018-04-01",
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate card transactions, genuine and fraudulent, as the handbook does.

    Customers live at x, y ~ U(0, 100) with a mean amount ~ U(5, 100) (standard deviation half
    the mean) and a mean of U(0, 4) transactions a day; terminals sit at x, y ~ U(0, 100), and
    a customer pays at the terminals closer than `radius`. Each customer and day: a Poisson
    number of transactions, at a time of day ~ N(12:00, 20000 s) (times outside the day are
    dropped), of an amount ~ N(mean, std) (a negative draw is replaced by U(0, 2 mean)), at a
    terminal drawn uniformly among the customer's. Customers with no terminal in range make no
    transactions. Fraud, applied in the handbook's order:

    1. every amount above 220 is fraud;
    2. each day, 2 random terminals are compromised: all their transactions in the next 28
       days are fraud;
    3. each day, 3 random customers are compromised: in the next 14 days, a third of their
       transactions (drawn at random) are fraud with 5 times the amount.

    As in the handbook, compromises are drawn on days ``0 .. last day - 1``, and
    ``TX_FRAUD_SCENARIO`` holds the last scenario that applied.

    Parameters
    ----------
    customers, terminals
        Number of customers and terminals (at least 1), as ``edalab simulate transactions
        --customers --terminals``; the former names ``n_customers`` and ``n_terminals`` still
        work, with a `DeprecationWarning`.
    days
        Number of simulated days (at least 1).
    radius
        A customer uses the terminals at Euclidean distance below `radius` (> 0).
    start
        The first day, naive (a timezone-aware value is converted to UTC and made naive).
    seed
        Seed of the random generator; the same seed gives the same frame. Customers and
        terminals depend only on the seed and their counts, not on `days`.

    Returns
    -------
    pandas.DataFrame
        Columns `COLUMNS`, one row per transaction, sorted by time; ``TX_ID`` is the row number.
        ``TX_DATETIME`` is naive ``datetime64[ns]``, the other columns are ``int64`` except
        ``TX_AMOUNT`` (``float64``, cents).

    Examples
    --------
    >>> df = transactions(customers=100, terminals=1000, days=30, seed=7)
    >>> list(df.columns) == COLUMNS, df.TX_DATETIME.is_monotonic_increasing
    (True, True)
    >>> len(df), int(df.TX_FRAUD.sum())
    (5740, 592)
    >>> df.TX_FRAUD_SCENARIO.value_counts().sort_index().to_dict()
    {0: 5148, 1: 7, 2: 91, 3: 494}
    """
    days = _positive_int("days", days)
    start_ns = _start_ns(start)
    world = _World(customers, terminals, radius, seed)
    n_customers, n_terminals = world.n_customers, world.n_terminals
    mean_amount, std_amount, mean_per_day = world.mean_amount, world.std_amount, world.per_day
    indptr, neighbours, n_near = world.indptr, world.neighbours, world.n_near
    rng_x, rng_f = world.rng_transactions, world.rng_frauds

    # Transactions in (customer, day, draw) order: what the handbook's loop would produce.
    counts = rng_x.poisson(np.repeat(mean_per_day, days)).astype(np.int64)
    cell = np.repeat(np.arange(n_customers * days, dtype=np.int64), counts)
    customer, day = np.divmod(cell, days)
    seconds = np.trunc(rng_x.normal(DAY / 2, 20_000, cell.size)).astype(np.int64)
    keep = (seconds > 0) & (seconds < DAY) & (n_near[customer] > 0)
    customer, day, seconds = customer[keep], day[keep], seconds[keep]
    mean = mean_amount[customer]
    amount = rng_x.normal(mean, std_amount[customer])
    negative = np.flatnonzero(amount < 0)
    amount[negative] = rng_x.uniform(0, 2 * mean[negative])
    amount = np.round(amount, 2)
    pick = rng_x.integers(0, n_near[customer])  # a terminal among the customer's, uniformly
    terminal = neighbours[indptr[customer] + pick]

    fraud, scenario = _add_frauds(rng_f, customer, terminal, day, amount, n_customers,
                                  n_terminals, days)

    seconds += day * DAY
    del cell, counts, keep, mean, pick  # peak memory: only what the frame needs from here on
    order = np.argsort(seconds, kind="stable")
    columns: dict[str, np.ndarray] = {"TX_ID": np.arange(order.size, dtype=np.int64)}
    for name, values in (("TX_TIME_SECONDS", seconds), ("CUSTOMER_ID", customer),
                         ("TERMINAL_ID", terminal), ("TX_AMOUNT", amount),
                         ("TX_TIME_DAYS", day), ("TX_FRAUD", fraud),
                         ("TX_FRAUD_SCENARIO", scenario)):
        columns[name] = values[order]
    del seconds, customer, terminal, amount, day, fraud, scenario, values, order
    stamps = (start_ns + columns["TX_TIME_SECONDS"] * 1_000_000_000).view("datetime64[ns]")
    columns["TX_DATETIME"] = stamps
    # Fresh arrays: copy=False spares a ~0.4 s, 100 MB consolidating copy.
    return pd.DataFrame({name: columns[name] for name in COLUMNS}, copy=False)


@renamed(n_customers="customers", n_terminals="terminals")
def transaction_profiles(
    customers: int = 500,
    terminals: int = 1000,
    radius: float = 5.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customer and terminal tables behind `transactions` for the same arguments.

    Parameters
    ----------
    customers, terminals, radius, seed
        As for `transactions` (the profiles do not depend on `days` or `start`).

    Returns
    -------
    (customers, terminals) : tuple of pandas.DataFrame
        The handbook's tables: ``CUSTOMER_ID, x_customer_id, y_customer_id, mean_amount,
        std_amount, mean_nb_tx_per_day, available_terminals, nb_terminals`` and
        ``TERMINAL_ID, x_terminal_id, y_terminal_id``.

    Examples
    --------
    >>> customers, terminals = transaction_profiles(customers=3, terminals=1000, seed=7)
    >>> customers[["CUSTOMER_ID", "mean_amount", "mean_nb_tx_per_day", "nb_terminals"]].round(2)
       CUSTOMER_ID  mean_amount  mean_nb_tx_per_day  nb_terminals
    0            0        13.39                1.24             4
    1            1        74.45                2.15             6
    2            2        10.77                3.41             5
    """
    world = _World(customers, terminals, radius, seed)
    available = np.split(world.neighbours, world.indptr[1:-1])
    customers = pd.DataFrame({
        "CUSTOMER_ID": np.arange(world.n_customers, dtype=np.int64),
        "x_customer_id": world.customer_xy[:, 0],
        "y_customer_id": world.customer_xy[:, 1],
        "mean_amount": world.mean_amount,
        "std_amount": world.std_amount,
        "mean_nb_tx_per_day": world.per_day,
        "available_terminals": [a.tolist() for a in available],
        "nb_terminals": world.n_near,
    })
    terminals = pd.DataFrame({
        "TERMINAL_ID": np.arange(world.n_terminals, dtype=np.int64),
        "x_terminal_id": world.terminal_xy[:, 0],
        "y_terminal_id": world.terminal_xy[:, 1],
    })
    return customers, terminals


def transaction_events(df: pd.DataFrame) -> Iterator[Event]:
    """The transactions of `df` as ``card.transaction`` events, in event-time order.

    Each event is keyed by the customer (as a string), has id ``tx-<TX_ID>``, the transaction
    time (UTC) as its time, and the row as its data: plain Python values, datetimes as ISO 8601
    strings in UTC. Rows are converted a chunk at a time, column by column.

    Parameters
    ----------
    df
        A frame with at least ``TX_ID``, ``TX_DATETIME`` and ``CUSTOMER_ID`` (naive times are
        read as UTC), as `transactions` returns.

    Examples
    --------
    >>> df = transactions(customers=20, terminals=200, days=3, seed=1)
    >>> e = next(transaction_events(df))
    >>> e.type, e.id, e.key, e.time.isoformat()
    ('card.transaction', 'tx-0', '0', '2018-04-01T00:31:39+00:00')
    >>> e.data["TX_AMOUNT"], e.data["TX_DATETIME"], e.data["TX_FRAUD"]
    (47.51, '2018-04-01T00:31:39Z', 0)
    """
    df = _in_time_order(df)
    columns = list(df.columns)
    for lo in range(0, len(df), _CHUNK):
        part = df.iloc[lo:lo + _CHUNK]
        values = [_plain(part[c]) for c in columns]
        ids = ["tx-" + str(i) for i in part["TX_ID"].tolist()]
        keys = [str(c) for c in part["CUSTOMER_ID"].tolist()]
        times = _utc_datetimes(part["TX_DATETIME"])
        for id_, key, time, row in zip(ids, keys, times, zip(*values, strict=True), strict=True):
            yield _unchecked("card.transaction", SOURCE, dict(zip(columns, row)), key, time, id_)  # noqa: B905


def label_events(df: pd.DataFrame, delay: str | timedelta | pd.Timedelta = "7D"
                 ) -> Iterator[Event]:
    """The fraud labels of `df` as ``fraud.label`` events, each `delay` after its transaction.

    Investigations confirm fraud days after the payment; an online model learns from these
    events, never from ``TX_FRAUD`` on the transaction itself. Every transaction gets one label
    (fraud or genuine), keyed by the customer, with id ``label-<TX_ID>`` and data
    ``{tx_id, customer_id, terminal_id, fraud, scenario}``; events come in event-time order.

    Parameters
    ----------
    df
        A frame as `transactions` returns.
    delay
        Feedback delay (anything `pandas.Timedelta` reads, >= 0); default 7 days.

    Examples
    --------
    >>> df = transactions(customers=20, terminals=200, days=3, seed=1)
    >>> e = next(label_events(df, delay="7D"))
    >>> e.type, e.id, e.key, e.time.isoformat()
    ('fraud.label', 'label-0', '0', '2018-04-08T00:31:39+00:00')
    >>> e.data
    {'tx_id': 0, 'customer_id': 0, 'terminal_id': 15, 'fraud': 0, 'scenario': 0}
    """
    delay = parse_duration(delay, name="delay", allow_zero=True)
    df = _in_time_order(df)
    for lo in range(0, len(df), _CHUNK):
        part = df.iloc[lo:lo + _CHUNK]
        tx_ids, customers = part["TX_ID"].tolist(), part["CUSTOMER_ID"].tolist()
        times = _utc_datetimes(part["TX_DATETIME"], delay)
        rows = zip(tx_ids, customers, part["TERMINAL_ID"].tolist(), part["TX_FRAUD"].tolist(),
                   part["TX_FRAUD_SCENARIO"].tolist(), times, strict=True)
        for tx_id, customer, terminal, fraud, scenario, time in rows:
            yield _unchecked("fraud.label", SOURCE,
                             {"tx_id": tx_id, "customer_id": customer, "terminal_id": terminal,
                              "fraud": fraud, "scenario": scenario},
                             str(customer), time, "label-" + str(tx_id))


# -- the simulation ----------------------------------------------------------------------------


class _World:
    """Customers, terminals and who uses which: everything drawn before the first day."""

    def __init__(self, n_customers: object, n_terminals: object, radius: object,
                 seed: object) -> None:
        self.n_customers = _positive_int("customers", n_customers)
        self.n_terminals = _positive_int("terminals", n_terminals)
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.number)):
            raise ValueError(f"radius must be a number, got {type(radius).__name__}")
        if not np.isfinite(radius) or radius <= 0:
            raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(f"seed must be an int or None, got {type(seed).__name__}")
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        # Independent streams: the customers do not change when `days` or `n_terminals` do.
        rng_c, rng_t, self.rng_transactions, self.rng_frauds = (
            # any Integral seed (numpy's too) was accepted above
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))  # type: ignore[arg-type]
        self.customer_xy = rng_c.uniform(0, 100, (self.n_customers, 2))
        self.mean_amount = rng_c.uniform(5, 100, self.n_customers)
        self.std_amount = self.mean_amount / 2
        self.per_day = rng_c.uniform(0, 4, self.n_customers)
        self.terminal_xy = rng_t.uniform(0, 100, (self.n_terminals, 2))
        self.indptr, self.neighbours = _terminals_within(self.customer_xy, self.terminal_xy,
                                                         float(radius))
        self.n_near = np.diff(self.indptr)



def _terminals_within(cust_xy: np.ndarray, term_xy: np.ndarray, radius: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Terminals at distance < radius of each customer, as CSR (indptr, terminal ids).

    Terminals are bucketed in a grid of `radius`-wide cells, so only the 3 x 3 cells around a
    customer are compared: work grows with the number of near pairs, not customers x terminals.
    Each customer's terminals come in increasing id order, like the handbook's ``np.where``.
    """
    n_customers = len(cust_xy)
    lo = np.minimum(cust_xy.min(axis=0), term_xy.min(axis=0))
    t_cell = np.floor((term_xy - lo) / radius).astype(np.int64) + 1
    c_cell = np.floor((cust_xy - lo) / radius).astype(np.int64) + 1
    width = int(max(t_cell[:, 1].max(), c_cell[:, 1].max())) + 2
    t_key = t_cell[:, 0] * width + t_cell[:, 1]
    by_cell = np.argsort(t_key, kind="stable")
    sorted_key = t_key[by_cell]
    c_key = c_cell[:, 0] * width + c_cell[:, 1]
    offsets = np.array([dx * width + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    near_key = (c_key[:, None] + offsets).ravel()  # customer-major, 9 cells each
    first = np.searchsorted(sorted_key, near_key, "left")
    size = np.searchsorted(sorted_key, near_key, "right") - first
    owner = np.repeat(np.repeat(np.arange(n_customers), 9), size)
    slot = np.repeat(first - np.cumsum(size) + size, size) + np.arange(size.sum())
    candidate = by_cell[slot]
    close = np.hypot(*(cust_xy[owner] - term_xy[candidate]).T) < radius
    owner, candidate = owner[close], candidate[close]
    order = np.lexsort((candidate, owner))
    indptr = np.zeros(n_customers + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n_customers), out=indptr[1:])
    return indptr, candidate[order].astype(np.int64)


def _distinct(rng: np.random.Generator, n: int, k: int, rows: int) -> np.ndarray:
    """`rows` independent draws of k distinct values of range(n), without a loop over rows."""
    k = min(k, n)
    picked = np.empty((rows, k), dtype=np.int64)
    for j in range(k):
        draw = rng.integers(0, n - j, rows)
        for prev in np.sort(picked[:, :j], axis=1).T:  # skip the values already taken
            draw += draw >= prev
        picked[:, j] = draw
    return picked


def _add_frauds(rng: np.random.Generator, customer: np.ndarray, terminal: np.ndarray,
                day: np.ndarray, amount: np.ndarray, n_customers: int, n_terminals: int,
                days: int) -> tuple[np.ndarray, np.ndarray]:
    """The three fraud scenarios; scales `amount` in place for scenario 3.

    Rows must be in (customer, day) order. Returns (TX_FRAUD, TX_FRAUD_SCENARIO) as int64.
    """
    n = customer.size
    scenario = np.zeros(n, dtype=np.int64)
    scenario[amount > FRAUD_AMOUNT] = 1
    draw_days = int(day.max()) if n else 0  # the handbook's range(TX_TIME_DAYS.max())
    if draw_days:
        # Scenario 2: a (compromised terminal x day) table over the few terminals ever hit.
        hit = _distinct(rng, n_terminals, TERMINALS_PER_DAY, draw_days)
        hit_day = np.repeat(np.arange(draw_days), hit.shape[1])
        hit = hit.ravel()
        hit_terms, row = np.unique(hit, return_inverse=True)
        window = np.zeros((hit_terms.size, days + 1), dtype=np.int32)
        np.add.at(window, (row, hit_day), 1)
        np.add.at(window, (row, np.minimum(hit_day + TERMINAL_DAYS, days)), -1)
        compromised = np.cumsum(window, axis=1) > 0
        row_of = np.full(n_terminals + 1, hit_terms.size, dtype=np.int64)  # last row: never
        row_of[hit_terms] = np.arange(hit_terms.size)
        compromised = np.vstack([compromised, np.zeros((1, days + 1), dtype=bool)])
        scenario[compromised[row_of[terminal], day]] = 2

        # Scenario 3: each (customer, day) compromise covers a contiguous run of rows.
        victims = _distinct(rng, n_customers, CUSTOMERS_PER_DAY, draw_days)
        first_day = np.repeat(np.arange(draw_days), victims.shape[1])
        victims = victims.ravel()
        cell = customer * days + day  # sorted, since rows are in (customer, day) order
        lo = np.searchsorted(cell, victims * days + first_day, "left")
        hi = np.searchsorted(cell, victims * days + np.minimum(first_day + CUSTOMER_DAYS, days),
                             "left")
        size = hi - lo
        group = np.repeat(np.arange(size.size), size)
        member = np.repeat(lo - np.cumsum(size) + size, size) + np.arange(size.sum())
        shuffled = np.lexsort((rng.random(member.size), group))  # random order within groups
        rank = np.arange(member.size) - np.repeat(np.cumsum(size) - size, size)
        chosen = member[shuffled][rank < (size // 3)[group]]
        times = np.bincount(chosen, minlength=n)  # a row can be drawn in overlapping windows
        scaled = times > 0
        amount[scaled] = np.round(amount[scaled] * AMOUNT_FACTOR ** times[scaled], 2)
        scenario[scaled] = 3
    return (scenario > 0).astype(np.int64), scenario


# -- helpers ------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _start_ns(start: object) -> int:
    try:
        stamp = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"start must be a date or datetime, got {start!r}: {exc}") from None
    if pd.isna(stamp):
        raise ValueError(f"start must be a date or datetime, got {start!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.as_unit("ns").value)


def _in_time_order(df: pd.DataFrame) -> pd.DataFrame:
    missing = {"TX_ID", "TX_DATETIME", "CUSTOMER_ID"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks the columns {sorted(missing)}")
    if (unknown := df["TX_DATETIME"].isna()).any():
        raise ValueError(f"TX_DATETIME is missing (NaT) in {unknown.sum()} row(s), the first "
                         f"with TX_ID {df['TX_ID'][unknown].tolist()[0]!r}")
    if df["TX_DATETIME"].is_monotonic_increasing:
        return df
    return df.sort_values(["TX_DATETIME", "TX_ID"], kind="stable")


def _utc_nanoseconds(times: pd.Series) -> np.ndarray:
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy().astype("datetime64[ns]").view(np.int64)


def _utc_datetimes(times: pd.Series, shift: pd.Timedelta | None = None) -> list[datetime]:
    index = pd.DatetimeIndex(times)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if shift is not None:
        index = index + shift
    return index.to_pydatetime().tolist()  # plain datetimes, tzinfo datetime.UTC


def _plain(column: pd.Series) -> list:
    """A column as a list of plain Python values (datetimes as ISO 8601 UTC strings)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = _utc_nanoseconds(column).view("datetime64[ns]")
        return np.datetime_as_string(stamps, unit="auto", timezone="UTC").tolist()
    return column.tolist()
