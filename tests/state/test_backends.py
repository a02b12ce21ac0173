"""The shipped state conformance suite (`edalab.testing.state_flow`) on every backend: memory,
SQLite and NATS (a real server), by the `backend` fixture of this folder's conftest."""

from __future__ import annotations

from edalab.testing.state_flow import StateSuite


class TestStateBackends(StateSuite):
    pass
