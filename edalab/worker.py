"""`edalab worker MODULE:APP --broker nats://HOST:PORT`: serve an App's handlers in this process.

The App is found as attribute APP of MODULE (imported from the current directory or
PYTHONPATH); it may also be a function that takes a broker and returns an App. With `--broker`
the App runs on that NATS server; several workers serving the same App share each consumer
group's partitions, and when one stops or dies its partitions move to the others. SIGTERM or
Ctrl-C stops a worker cleanly: it hands back what it holds and leaves its groups.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from pathlib import Path

from edalab.runtime.app import App


def load_app(spec: str, broker=None) -> App:
    """The App named by ``MODULE:ATTRIBUTE`` (an App, or a function of the broker)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"edalab worker: expected MODULE:APP, got {spec!r}")
    sys.path.insert(0, str(Path.cwd()))
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, App):
        if broker is not None:
            target.broker = broker
        return target
    if callable(target):
        app = target(broker) if broker is not None else target()
        if isinstance(app, App):
            return app
    raise SystemExit(f"edalab worker: {spec} is not an App nor a function returning one")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edalab worker", description=__doc__.split("\n")[0])
    parser.add_argument("app", metavar="MODULE:APP")
    parser.add_argument("--broker", metavar="URL", help="NATS server, e.g. nats://127.0.0.1:4222")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--token")
    parser.add_argument("--ack-wait", type=float, default=30.0,
                        help="seconds before an un-acked event is delivered again")
    parser.add_argument("--lease-ttl", type=float, default=6.0,
                        help="seconds after which a dead worker's partitions are taken over")
    parser.add_argument("--batch", type=int, default=500, help="events per poll")
    parser.add_argument("--idle", type=float, help="stop after this many seconds without events")
    parser.add_argument("--timeout", type=float, help="stop after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the run statistics as JSON")
    args = parser.parse_args(argv)
    broker = None
    if args.broker:
        from edalab.brokers.nats_broker import NatsBroker

        broker = NatsBroker(args.broker, user=args.user, password=args.password,
                            token=args.token, ack_wait=args.ack_wait,
                            lease_ttl=args.lease_ttl)
    app = load_app(args.app, broker)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"edalab worker: serving {args.app} ({', '.join(h.name for h in app.handlers)}) "
          f"on {args.broker or 'the embedded broker'}", file=sys.stderr, flush=True)
    stats = app.serve(batch_size=args.batch, idle=args.idle, timeout=args.timeout, stop=stop)
    if args.json:
        frame = stats.to_frame().reset_index()
        print(json.dumps({"wall_seconds": stats.wall_seconds, "stopped_by": stats.stopped_by,
                          "handlers": json.loads(frame.to_json(orient="records"))}))
    else:
        print(stats)
    if broker is not None:
        broker.close()
    return 0
