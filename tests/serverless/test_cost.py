"""The cost model: Lambda billing against always-on workers, and where they cross."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edalab.serverless.cost import (
    Prices,
    always_on_instances,
    billed_gb_s,
    break_even,
    cost_per_million,
)


def test_lambda_bills_each_execution_rounded_up_to_the_millisecond():
    assert billed_gb_s(np.array([0.0001] * 1000), 1024) == pytest.approx(1.0)  # 1 ms each
    assert Prices().lambda_cost(1e6, 0) == pytest.approx(0.20)


def test_serverless_and_always_on_cost_the_same_at_the_break_even_load():
    rate = break_even(0.1, 512)
    at = cost_per_million(np.array([rate * 0.5, rate, rate * 1.3]), 0.1, 512)
    assert at.serverless[1] == pytest.approx(at.always_on[1])
    assert at.always_on[0] > at.serverless[0] and at.always_on[2] < at.serverless[2]


def test_a_load_one_worker_cannot_carry_has_no_single_worker_break_even():
    assert break_even(30.0, 128) == math.inf
    assert always_on_instances(10, 1.0, utilisation=0.5) == 20
    with pytest.raises(ValueError, match="utilisation must be in"):
        always_on_instances(1, 1, utilisation=0)
