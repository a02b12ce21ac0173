"""The NATS backend's public names: `edalab.NatsBroker` and `edalab.NatsServer`, loaded on first
use so that a server alone (``edalab broker start``) does not import the NATS client."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import edalab


def nats_package():
    return importlib.import_module("edalab.brokers.nats")


def test_nats_server_is_a_public_name():
    from edalab import NatsServer

    assert "NatsServer" in edalab.__all__
    assert NatsServer is nats_package().NatsServer
    assert NatsServer.__module__ == "edalab.brokers.nats.server"


def test_nats_broker_and_consumer_come_from_the_package():
    from edalab import NatsBroker

    assert NatsBroker is nats_package().NatsBroker
    assert nats_package().NatsConsumer.__module__ == "edalab.brokers.nats.consumer"


def test_nats_server_alone_does_not_import_the_nats_client():
    code = ("import sys\nfrom edalab import NatsServer\nNatsServer().cleanup()\n"
            "print(sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_unknown_name_of_the_package_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'NatsClient'"):
        nats_package().NatsClient  # noqa: B018
