"""`edalab broker start`: a local NATS JetStream server for notebooks and workers."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from edalab.brokers.base import BrokerError
from edalab.brokers.nats.server import NatsServer, fatal_line
from edalab.cli.common import (
    USAGE,
    CliError,
    Parser,
    add_credentials,
    credentials,
    run_command,
)

PROG = "edalab broker"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def _parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__)
    parser.add_argument("action", choices=["start"],
                        help="start: run the server until Ctrl-C or SIGTERM")
    parser.add_argument("--port", type=_port, default=4222, help="client port (default 4222)")
    parser.add_argument("--store", help="JetStream storage directory (default: a temporary one)")
    add_credentials(parser, "Clients must present these; without any, every local user and "
                    "process can connect")
    return parser


def _start(server: NatsServer) -> NatsServer:
    """Start `server`; a failure removes what it made and says why in one line."""
    try:
        return server.start()
    except (BrokerError, OSError) as exc:
        server.cleanup()
        if isinstance(exc, OSError):  # the store directory cannot be made or written
            raise CliError(f"cannot use the store {server.store_dir}: {exc}") from None
        if "address already in use" in str(exc):
            raise CliError(f"port {server.port} on 127.0.0.1 is in use (another nats-server "
                               "or edalab broker?); choose another with --port") from None
        raise CliError(str(exc)) from None


def _run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    user, password, token = credentials(args)
    try:
        server = NatsServer(args.port, args.store, user=user, password=password, token=token)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    stop = threading.Event()  # before the start: a SIGTERM then still stops it cleanly
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    _start(server)
    if user:
        connect = f", user={user!r}, password=..."
    elif token:
        connect = ", token=..."
    else:
        connect = ""
        print(f"{PROG}: warning: no authentication: anyone who can reach "
              f"127.0.0.1:{server.port} on this machine (every local user and process) can "
              "connect; set EDALAB_NATS_USER and EDALAB_NATS_PASSWORD, or EDALAB_NATS_TOKEN",
              file=sys.stderr, flush=True)
    print(f"NATS JetStream listening on {server.url} (store: {server.store_dir})\n"
          f"connect from Python:  NatsBroker({server.url!r}{connect})\n"
          f"run a worker:         edalab worker MODULE:APP --broker {server.url}\n"
          "Ctrl-C stops the server.", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running:
                log = (server.store_dir / "nats-server.log").read_text(errors="replace")
                code = server.process.returncode  # type: ignore[union-attr]  # it was started
                raise CliError(f"nats-server exited with {code}: "
                                   f"{fatal_line(log)}")
    finally:
        server.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(PROG, _run, argv)
