"""`NatsBroker` against secured servers: user/password, token, TLS with a throwaway CA.

The TLS tests make a CA and a server certificate for 127.0.0.1/localhost at test time with the
`openssl` command (skipped when it is missing); nothing is written outside pytest's tmp_path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edalab import BrokerError, Event
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.server import NatsServer, free_port

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


# -- credentials stay off every command line ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def command_lines() -> dict[int, bytes]:
    """Every process's command line, as any local user can read it."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:  # the process ended meanwhile
                continue
    return out


def edalab_process(*args: str, env: dict[str, str]) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDALAB_NATS_")}
    return subprocess.Popen([sys.executable, "-m", "edalab.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**clean, "PYTHONPATH": str(ROOT), **env})


def wait_for_line(stream, needle: str, process: subprocess.Popen, timeout: float = 30) -> str:
    """The first line of `stream` with `needle`; the process is killed after `timeout` s."""
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        for line in stream:
            if needle in line:
                return line
    finally:
        killer.cancel()
    raise AssertionError(f"{needle!r} never printed; exit {process.wait()}: "
                         f"{process.stderr.read()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_no_credential_on_any_command_line():
    user, password, token = "u-" + secrets.token_hex(6), "p-" + secrets.token_hex(8), \
        "t-" + secrets.token_hex(8)
    cli_token = "c-" + secrets.token_hex(8)
    with NatsServer(user=user, password=password) as by_password, \
            NatsServer(token=token) as by_token:
        with NatsBroker(by_password.url, user=user, password=password) as broker:
            broker.create_topic("ticks")
            broker.create_topic("done")
        worker = edalab_process("worker", "tests.brokers.nats_apps:relay",
                                "--broker", by_password.url,
                                "--idle", "60", env={"EDALAB_NATS_USER": user,
                                                     "EDALAB_NATS_PASSWORD": password})
        port = free_port()
        server = edalab_process("broker", "start", "--port", str(port),
                                env={"EDALAB_NATS_TOKEN": cli_token})
        try:
            wait_for_line(worker.stderr, "serving", worker)
            wait_for_line(server.stdout, "listening", server)
            with NatsBroker(f"nats://127.0.0.1:{port}", token=cli_token), \
                    NatsBroker(by_token.url, token=token):
                pass  # the CLI's server took its token from the environment
            lines = command_lines()
        finally:
            stop(worker)
            stop(server)
    servers = [cmd for cmd in lines.values() if b"nats-server" in cmd and b"-c\0" in cmd]
    assert len(servers) >= 3  # the scan saw the three servers started with credentials
    assert worker.pid in lines and server.pid in lines
    for secret in (user, password, token, cli_token):
        leaks = [pid for pid, cmd in lines.items() if secret.encode() in cmd]
        assert not leaks, f"a credential is on the command line of processes {leaks}"


def test_credentials_file_is_private_and_removed_on_stop():
    server = NatsServer(user="alice", password='a "quoted" \\ $pass #word')
    with server:
        path = server.config_file
        assert path is not None and path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        with NatsBroker(server.url, user="alice", password='a "quoted" \\ $pass #word'):
            pass  # the server read the password exactly, quotes and all
    assert server.config_file is None and not path.exists() and not path.parent.exists()


def test_server_refuses_mixed_or_half_credentials():
    with pytest.raises(ValueError, match="not both"):
        NatsServer(user="alice", password="x", token="t")
    with pytest.raises(ValueError, match="needs a password"):
        NatsServer(user="alice")


def test_cli_arguments_win_over_the_environment(password_server):
    with NatsBroker(password_server.url, user="alice", password="wonderland") as broker:
        for topic in ("ticks", "done"):
            if topic not in broker.topics():
                broker.create_topic(topic)
    # A wrong password in the environment, the right one as an argument: it connects.
    worker = edalab_process("worker", "tests.brokers.nats_apps:relay",
                            "--broker", password_server.url,
                            "--password", "wonderland", "--timeout", "0.5",
                            env={"EDALAB_NATS_USER": "alice",
                                 "EDALAB_NATS_PASSWORD": "looking-glass"})
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err


def test_cli_help_says_which_credentials_other_users_can_see():
    for command in ("worker", "broker"):
        result = subprocess.run([sys.executable, "-m", "edalab.cli", command, "--help"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        text = " ".join(result.stdout.split())
        assert "visible to every local user" in text
        assert "EDALAB_NATS_PASSWORD" in text and "EDALAB_NATS_TOKEN" in text


def test_broker_start_without_auth_warns_who_can_connect():
    port = free_port()
    server = edalab_process("broker", "start", "--port", str(port), env={})
    try:
        warning = wait_for_line(server.stderr, "warning", server)
    finally:
        stop(server)
    assert f"127.0.0.1:{port}" in warning and "every local user and process" in warning
    assert server.returncode == 0
