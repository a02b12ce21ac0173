"""Fixtures shared by the test packages, and the layout of tests/, which mirrors edalab/.

- A top-level module's tests sit at tests/ root (`edalab/events.py` -> `tests/test_events.py`;
  likewise errors, jsonproof).
- A package's tests sit in the folder of the same name: `edalab/<package>/...` ->
  `tests/<package>/test_*.py` (subpackages share their package's folder: the NATS backend's
  tests are in tests/brokers/). A test of several packages goes where its subject lives.
- Checks of the whole project (layering, public names, docs, types, lint, notebooks) sit in
  tests/project/.
- Every folder has an ``__init__.py``: tests are imported as ``tests.<package>.<module>``.
  Fixtures used by several folders live here; those of one folder in its own conftest.py.
  Helper modules sit beside their users (`tests.brokers.nats_apps`, served by worker processes).
"""

from __future__ import annotations

import pytest

from tests.brokers.conftest import BACKENDS, nats_backend


@pytest.fixture
def nats_broker():
    """A `NatsBroker` on a fresh ``nats-server -js`` (free loopback port, temporary store),
    closed and removed after the test."""
    broker, cleanup = nats_backend()
    yield broker
    cleanup()


@pytest.fixture(params=sorted(BACKENDS))
def broker(request):
    """Each backend in turn: the embedded `MemoryBroker`, then `NatsBroker` on a fresh server
    (a test that runs on both brokers takes this fixture)."""
    b, cleanup = BACKENDS[request.param]()
    yield b
    cleanup()
