"""The error classes a retry policy steers by: roots and builtin bases callers catch."""

from __future__ import annotations

import pickle

from edalab import EdalabError
from edalab.resilience import BreakerOpen, PermanentError, TransientError


def test_transient_and_permanent_keep_edalab_and_builtin_bases():
    assert issubclass(TransientError, EdalabError) and issubclass(TransientError, RuntimeError)
    assert issubclass(PermanentError, EdalabError) and issubclass(PermanentError, ValueError)
    assert not issubclass(PermanentError, TransientError)


def test_breaker_open_is_transient_and_says_when_it_may_close():
    error = BreakerOpen("model", 4.0)
    assert isinstance(error, TransientError)
    assert (error.name, error.retry_after) == ("model", 4.0)
    assert "'model' is open" in str(error) and "4 s" in str(error)
    assert "for 1234.5 s more" in str(BreakerOpen("model", 1234.5))  # not 1.23e+03


def test_breaker_open_survives_pickling_for_worker_processes():
    again = pickle.loads(pickle.dumps(BreakerOpen("model", 1.5)))
    assert (type(again), again.name, again.retry_after, str(again)) == (
        BreakerOpen, "model", 1.5, str(BreakerOpen("model", 1.5)))
