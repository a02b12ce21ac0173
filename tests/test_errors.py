"""One error root: every exception class edalab defines derives from `EdalabError` and keeps
the builtin base its callers catch."""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import pkgutil

import pytest

import edalab
from edalab.errors import BatchFailure, EdalabError, StoreClosedError

#: Public error → the builtin its callers caught before the root existed (and still may).
BUILTIN_BASES = {
    "edalab.events.EventError": ValueError,
    "edalab.brokers.base.BrokerError": RuntimeError,
    "edalab.brokers.base.UnknownTopicError": LookupError,
    "edalab.brokers.base.ConsumerClosedError": RuntimeError,
    "edalab.runtime.handler.HandlerError": TypeError,
    "edalab.errors.StoreClosedError": RuntimeError,
    "edalab.patterns.eventstore.base.ConcurrencyError": RuntimeError,
    "edalab.patterns.eventstore.base.EventStoreFileError": OSError,
    "edalab.patterns.aggregate.CommandError": ValueError,
    "edalab.patterns.saga.CoordinatorCrashed": RuntimeError,
    "edalab.retraining.services.StepFailed": RuntimeError,
}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def edalab_exceptions() -> dict[str, type]:
    """Every exception class defined in a module of edalab, by qualified name."""
    for module in pkgutil.walk_packages(edalab.__path__, "edalab."):
        if not module.name.endswith(".__main__"):  # running it would start the CLI
            importlib.import_module(module.name)
    return {f"{c.__module__}.{c.__qualname__}": c for c in _subclasses(BaseException)
            if c.__module__ == "edalab" or c.__module__.startswith("edalab.")}


@pytest.fixture(scope="module")
def exceptions() -> dict[str, type]:
    return edalab_exceptions()


#: Not errors but signals, on purpose outside `Exception` (as `KeyboardInterrupt` is), so no
#: `except Exception` stops them: name → why.
SIGNALS = {"edalab.bench._resilience_run.WorkerKilled":
           "the resilience bench's worker dies mid-batch, as SIGKILL would end it"}


def test_every_edalab_exception_derives_from_edalab_error(exceptions):
    assert len(exceptions) >= len(BUILTIN_BASES)
    errors = {name: cls for name, cls in exceptions.items() if issubclass(cls, Exception)}
    assert sorted(set(exceptions) - set(errors)) == sorted(SIGNALS)
    orphans = sorted(name for name, cls in errors.items() if not issubclass(cls, EdalabError))
    assert orphans == []


def test_every_public_error_keeps_its_builtin_base(exceptions):
    assert set(BUILTIN_BASES) <= set(exceptions)
    for name, base in BUILTIN_BASES.items():
        assert issubclass(exceptions[name], base), name


def test_public_errors_are_exported_from_edalab(exceptions):
    for name in [*BUILTIN_BASES, "edalab.errors.BatchFailure"]:
        cls = exceptions[name]
        assert getattr(edalab, cls.__name__) is cls, name
        assert cls.__name__ in edalab.__all__
    assert edalab.EdalabError is EdalabError


def test_batch_failure_is_one_class_from_the_root_and_the_runtime():
    from edalab.runtime import BatchFailure as from_runtime

    assert from_runtime is BatchFailure is edalab.BatchFailure


def test_errors_module_imports_nothing_from_edalab():
    # Layer 1: every layer raises these, so the module may not import any of them back.
    tree = ast.parse(inspect.getsource(importlib.import_module("edalab.errors")))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [name for name in imported if name.split(".")[0] == "edalab"] == []


def test_an_event_error_is_caught_as_edalab_error_and_as_value_error():
    with pytest.raises(EdalabError, match="type"):
        edalab.Event("", "/tests")
    with pytest.raises(ValueError, match="type"):
        edalab.Event("", "/tests")


def test_store_closed_error_survives_pickling():
    error = pickle.loads(pickle.dumps(StoreClosedError("SqliteEventStore('e.db')")))
    assert isinstance(error, StoreClosedError)
    assert (error.store, str(error)) == ("SqliteEventStore('e.db')",
                                         "SqliteEventStore('e.db') is closed")
