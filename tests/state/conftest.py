"""The state backends, `BACKENDS`: the embedded `MemoryState`, `SQLiteState` on a file in a
temporary folder, and `NatsState` on a real ``nats-server -js`` (a fresh one per test,
compacting after 3 messages so that the suite's claims compact too). The `backend` fixture
runs a test on each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edalab.state import MemoryState, NatsState, SQLiteState, StateBackend
from tests.brokers.conftest import nats_backend


def memory_state(folder: Path) -> tuple[StateBackend, Callable[[], None]]:
    backend = MemoryState()
    return backend, backend.close


def sqlite_state(folder: Path) -> tuple[StateBackend, Callable[[], None]]:
    backend = SQLiteState(folder / "state.db")
    return backend, backend.close


def nats_state(folder: Path) -> tuple[StateBackend, Callable[[], None]]:
    broker, cleanup = nats_backend()
    backend = NatsState(broker, compact_after=3)  # the suite's claims compact too

    def close() -> None:
        backend.close()
        cleanup()
    return backend, close


BACKENDS = {"memory": memory_state, "sqlite": sqlite_state, "nats": nats_state}


@pytest.fixture(params=list(BACKENDS))
def backend(request, tmp_path):
    """Each state backend in turn: memory, SQLite (a file in tmp_path), NATS (a fresh
    server)."""
    b, close = BACKENDS[request.param](tmp_path)
    yield b
    close()
