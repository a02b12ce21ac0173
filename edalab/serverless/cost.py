"""What a function costs: AWS Lambda list prices (x86) against always-on workers.

Lambda bills each request and each GB-second of execution, rounded up to the millisecond;
provisioned instances pay a lower GB-second price for every second they exist. An always-on
worker is priced as an AWS Fargate task of the function's memory and Lambda's CPU share
(one vCPU per 1,769 MB, at least a quarter vCPU), per hour, whether it works or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Prices", "always_on_instances", "billed_gb_s", "break_even", "cost_per_million"]


@dataclass(frozen=True)
class Prices:
    """List prices in US dollars (AWS us-east-1, x86)."""

    per_request: float = 0.20 / 1e6
    per_gb_s: float = 0.0000166667
    provisioned_per_gb_s: float = 0.0000041667
    vcpu_hour: float = 0.04048
    gb_hour: float = 0.004445
    mb_per_vcpu: float = 1769.0

    def worker_hour(self, memory_mb: float) -> float:
        """The hourly price of an always-on worker with `memory_mb` of memory.

        >>> round(Prices().worker_hour(1769), 5)
        0.04816
        """
        vcpu = max(0.25, memory_mb / self.mb_per_vcpu)
        return vcpu * self.vcpu_hour + memory_mb / 1024 * self.gb_hour

    def lambda_cost(self, requests: int | float, gb_s: float) -> float:
        """On-demand Lambda: `requests` invocations and `gb_s` billed GB-seconds."""
        return requests * self.per_request + gb_s * self.per_gb_s


def billed_gb_s(durations_s: np.ndarray, memory_mb: float) -> float:
    """GB-seconds Lambda bills for executions of `durations_s`: each rounded up to 1 ms.

    >>> billed_gb_s(np.array([0.0001, 0.0105]), 1024)
    0.012
    """
    return float(np.ceil(np.asarray(durations_s) * 1000 - 1e-9).sum()) / 1000 * memory_mb / 1024


def always_on_instances(rate: float, exec_mean_s: float, utilisation: float = 0.7) -> int:
    """Workers an always-on deployment needs for `rate` events per second of `exec_mean_s`
    each, busy at most `utilisation` of the time (at least one).

    >>> always_on_instances(10, 0.2), always_on_instances(0.001, 0.2)
    (3, 1)
    """
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation!r}")
    return max(1, math.ceil(rate * exec_mean_s / utilisation))


def cost_per_million(rates: np.ndarray, exec_mean_s: float, memory_mb: float,
                     prices: Prices | None = None, utilisation: float = 0.7) -> pd.DataFrame:
    """Dollars per million events, serverless and always-on, for each load in `rates`
    (events per second, steady; cold starts not counted: see the platform simulator).

    >>> t = cost_per_million(np.array([0.01, 100.0]), 0.1, 512)
    >>> t.round(2).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'rate': [0.01, 100.0], 'serverless': [1.03, 1.03], 'always_on': [387.18, 0.58],
     'workers': [1, 15]}
    """
    prices = prices or Prices()
    rates = np.asarray(rates, dtype=float)
    per_event = prices.lambda_cost(1, billed_gb_s(np.array([exec_mean_s]), memory_mb))
    workers = np.array([always_on_instances(r, exec_mean_s, utilisation) for r in rates])
    hourly = workers * prices.worker_hour(memory_mb)
    return pd.DataFrame({"rate": rates, "serverless": per_event * 1e6,
                         "always_on": hourly / (rates * 3600) * 1e6, "workers": workers})


def break_even(exec_mean_s: float, memory_mb: float, prices: Prices | None = None) -> float:
    """The load (events per second) above which one always-on worker costs less per event
    than serverless; `inf` when one worker cannot carry that load.

    >>> round(break_even(0.1, 512), 3)
    3.747
    """
    prices = prices or Prices()
    per_event = prices.lambda_cost(1, billed_gb_s(np.array([exec_mean_s]), memory_mb))
    rate = prices.worker_hour(memory_mb) / 3600 / per_event
    return rate if rate * exec_mean_s <= 1 else math.inf
