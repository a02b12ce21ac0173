"""`edalab broker start`: a local NATS JetStream server (or a cluster of them, with
--cluster N) for notebooks and workers."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from edalab.brokers.base import BrokerError
from edalab.brokers.nats.cluster import NatsCluster
from edalab.brokers.nats.server import NatsServer, fatal_line
from edalab.cli.common import (
    USAGE,
    CliError,
    Parser,
    add_credentials,
    credentials,
    positive,
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
    parser.add_argument("--cluster", type=positive(int), metavar="N",
                        help="run N servers joined by routes on ports PORT..PORT+N-1 (3 keep "
                        "topics made with replicas=3 up through the loss of any one)")
    parser.add_argument("--sync-interval", default="2m", metavar="WHEN",
                        help="with --cluster: how often the stores fsync, a duration or "
                        "'always' (default 2m, nats-server's: a power cut of every server "
                        "may lose what was written since)")
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
    if args.cluster:
        if user or token:
            raise CliError("--cluster runs without credentials (the members' routes would "
                           "need them too); leave out --user/--password/--token", USAGE)
        return _run_cluster(args)
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


def _run_cluster(args: argparse.Namespace) -> int:
    """`--cluster N`: N servers on PORT..PORT+N-1 until Ctrl-C; one that dies is reported,
    not fatal (that is what the cluster is for), unless all have."""
    ports = list(range(args.port, args.port + args.cluster))
    if ports[-1] > 65535:
        raise CliError(f"--port {args.port} leaves no room for {args.cluster} servers", USAGE)
    try:
        cluster = NatsCluster(args.cluster, ports=ports, store_dir=args.store,
                              sync_interval=args.sync_interval)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc), USAGE) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster.start()
    except BrokerError as exc:
        raise CliError(str(exc)) from None
    print(f"{PROG}: warning: no authentication: anyone who can reach ports "
          f"{ports[0]}-{ports[-1]} on 127.0.0.1 can connect", file=sys.stderr, flush=True)
    print(f"NATS JetStream cluster of {args.cluster} listening on {', '.join(cluster.urls)} "
          f"(store: {cluster.store_dir}, sync_interval: {args.sync_interval})\n"
          f"connect from Python:  NatsBroker({cluster.urls!r}, replicas="
          f"{min(3, args.cluster)})\nCtrl-C stops the servers.", flush=True)
    try:
        while not stop.wait(0.5):
            if not any(cluster.running):
                raise CliError("every nats-server of the cluster has exited; see "
                               f"{cluster.store_dir}/*/nats-server.log")
    finally:
        cluster.cleanup()
    return 0
