"""The simulators take the names the command line uses, and their former names still work."""

from __future__ import annotations

import inspect
import warnings

import pytest

from edalab.cli.simulate import KINDS, _simulator
from edalab.streams import power_sensors, sensor_registry, transaction_profiles, transactions


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_simulate_options_are_the_simulator_parameter_names(kind):
    parameters = inspect.signature(_simulator(kind)).parameters
    for option, name, _ in KINDS[kind][2]:
        assert option.lstrip("-").replace("-", "_") == name, (kind, option, name)
        assert name in parameters, (kind, name)


@pytest.mark.parametrize(("function", "old", "new", "args"), [
    (transactions, "n_customers", "customers", {"terminals": 40, "days": 3}),
    (transactions, "n_terminals", "terminals", {"customers": 20, "days": 3}),
    (transaction_profiles, "n_customers", "customers", {"terminals": 40}),
    (transaction_profiles, "n_terminals", "terminals", {"customers": 20}),
    (power_sensors, "n_sensors", "sensors", {"duration": 5}),
])
def test_former_keyword_names_work_with_a_deprecation_warning(function, old, new, args):
    value = {"customers": 20, "terminals": 40, "sensors": 3}[new]
    expected = function(**args, **{new: value})
    with pytest.warns(DeprecationWarning, match=f"{old}=.*use .*{new}="):
        result = function(**args, **{old: value})
    if isinstance(expected, tuple):
        assert all(a.equals(b) for a, b in zip(result, expected, strict=True))
    else:
        assert result.equals(expected)


def test_sensor_registry_former_name_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="n_sensors"):
        old = sensor_registry(n_sensors=6, fanout=2, depth=2, seed=1)
    assert old.parent_map().equals(sensor_registry(sensors=6, fanout=2, depth=2,
                                                   seed=1).parent_map())


def test_new_names_give_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        transactions(customers=10, terminals=20, days=2)
        power_sensors(sensors=2, duration=2)


def test_old_and_new_name_together_raise_type_error():
    with pytest.raises(TypeError, match="both n_customers= and customers="):
        transactions(n_customers=10, customers=10, days=2)
