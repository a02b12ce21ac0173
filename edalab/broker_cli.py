"""`edalab broker start`: a local NATS JetStream server for notebooks and workers."""

from __future__ import annotations

import argparse
import signal
import threading

from edalab.brokers.nats_server import NatsServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edalab broker", description=__doc__)
    parser.add_argument("action", choices=["start"])
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--store", help="JetStream storage directory (default: a temporary one)")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--token")
    args = parser.parse_args(argv)
    server = NatsServer(args.port, args.store, user=args.user, password=args.password,
                        token=args.token).start()
    credentials = ""
    if args.user:
        credentials = f", user={args.user!r}, password=..."
    elif args.token:
        credentials = ", token=..."
    print(f"NATS JetStream listening on {server.url} (store: {server.store_dir})\n"
          f"connect from Python:  NatsBroker({server.url!r}{credentials})\n"
          f"run a worker:         edalab worker MODULE:APP --broker {server.url}\n"
          "Ctrl-C stops the server.", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        if not server.running:
            print("nats-server exited")
            return 1
    server.cleanup()
    return 0
