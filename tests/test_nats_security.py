"""`NatsBroker` against secured servers: user/password, token, TLS with a throwaway CA.

The TLS tests make a CA and a server certificate for 127.0.0.1/localhost at test time with the
`openssl` command (skipped when it is missing); nothing is written outside pytest's tmp_path.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from edalab import BrokerError, Event
from edalab.brokers.nats_broker import NatsBroker
from edalab.brokers.nats_server import NatsServer

CREDENTIALS_HINT = "pass user/password or token to NatsBroker"


def _round_trip(broker: NatsBroker, topic: str = "secure") -> None:
    """Publish one event and poll it back: the connection really works."""
    event = Event("test.secured", "/tests/security", {"ok": True}, key="k", id="s1")
    broker.create_topic(topic)
    consumer = broker.subscribe(topic, group="g")
    broker.publish(topic, event)
    batch = consumer.poll(max_events=10, timeout=5.0)
    assert [r.event for r in batch] == [event]
    consumer.ack(batch)
    consumer.close()


@pytest.fixture(scope="module")
def password_server():
    with NatsServer(user="alice", password="wonderland") as server:
        yield server


@pytest.fixture(scope="module")
def token_server():
    with NatsServer(token="s3cr3t-t0ken") as server:
        yield server


def test_password_server_refuses_an_unauthenticated_broker(password_server):
    with pytest.raises(BrokerError) as info:
        NatsBroker(password_server.url, connect_timeout=2.0)
    message = str(info.value)
    assert password_server.url in message
    assert "refused" in message and "authorization" in message.lower()
    assert CREDENTIALS_HINT in message


def test_password_server_refuses_a_wrong_password(password_server):
    with pytest.raises(BrokerError) as info:
        NatsBroker(password_server.url, user="alice", password="looking-glass",
                   connect_timeout=2.0)
    message = str(info.value)
    assert password_server.url in message
    assert "refused" in message and "authorization" in message.lower()
    assert "user/password or token" in message
    assert "looking-glass" not in message  # never echo a secret


def test_password_server_accepts_the_right_credentials(password_server):
    with NatsBroker(password_server.url, user="alice", password="wonderland") as broker:
        _round_trip(broker)


def test_token_server_refuses_a_broker_without_the_token(token_server):
    with pytest.raises(BrokerError) as info:
        NatsBroker(token_server.url, connect_timeout=2.0)
    assert token_server.url in str(info.value)
    assert CREDENTIALS_HINT in str(info.value)
    with pytest.raises(BrokerError, match="user/password or token") as info:
        NatsBroker(token_server.url, token="wrong-token", connect_timeout=2.0)
    assert "wrong-token" not in str(info.value)


def test_token_server_accepts_the_token(token_server):
    with NatsBroker(token_server.url, token="s3cr3t-t0ken") as broker:
        _round_trip(broker)


# -- TLS -------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a server certificate it signed, for IP 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=edalab test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext",
             cwd=d)
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


@pytest.fixture(scope="module")
def tls_server(certificates):
    args = ["--tls", "--tlscert", str(certificates["cert"]), "--tlskey",
            str(certificates["key"])]
    with NatsServer(extra_args=args) as server:
        yield server


def test_tls_server_accepts_a_broker_that_trusts_its_ca(tls_server, certificates):
    context = ssl.create_default_context(cafile=str(certificates["ca"]))
    with NatsBroker(tls_server.url, tls=context) as broker:
        _round_trip(broker, topic="secure-tls")  # the server requires TLS: this was TLS


def test_tls_server_accepts_localhost_as_the_verified_name(tls_server, certificates):
    context = ssl.create_default_context(cafile=str(certificates["ca"]))
    with NatsBroker(tls_server.url, tls=context, tls_hostname="localhost") as broker:
        _round_trip(broker, topic="secure-localhost")


def test_tls_server_refuses_a_broker_without_the_ca(tls_server):
    context = ssl.create_default_context()  # the system's CAs: ours is not among them
    with pytest.raises(BrokerError) as info:
        NatsBroker(tls_server.url, tls=context, connect_timeout=2.0)
    message = str(info.value)
    assert tls_server.url in message
    assert "certificate" in message.lower()


def test_tls_server_refuses_a_broker_that_checks_another_name(tls_server, certificates):
    context = ssl.create_default_context(cafile=str(certificates["ca"]))
    with pytest.raises(BrokerError) as info:
        NatsBroker(tls_server.url, tls=context, tls_hostname="evil.example",
                   connect_timeout=2.0)
    assert tls_server.url in str(info.value)
    assert "certificate" in str(info.value).lower() or "hostname" in str(info.value).lower()


def test_tls_server_refuses_a_plain_text_broker(tls_server):
    with pytest.raises(BrokerError) as info:
        NatsBroker(tls_server.url, connect_timeout=2.0)
    assert tls_server.url in str(info.value)


def test_tls_refusal_says_how_to_pass_the_ca(tls_server):
    with pytest.raises(BrokerError) as info:
        NatsBroker(tls_server.url, tls=ssl.create_default_context(), connect_timeout=2.0)
    message = str(info.value)
    assert "is the server running" not in message
    assert "tls=" in message and "cafile" in message
