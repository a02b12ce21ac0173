"""`edalab worker MODULE:APP --broker nats://HOST:PORT`: serve an App's handlers in this process.

The App is found as attribute APP of MODULE (imported from the current directory or
PYTHONPATH); it may also be a function that takes a broker and returns an App. With `--broker`
the App runs on that NATS server; several workers serving the same App share each consumer
group's partitions, and when one stops or dies its partitions move to the others. SIGTERM or
Ctrl-C stops a worker cleanly: it hands back what it holds and leaves its groups.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
import traceback
from pathlib import Path

from edalab.brokers.base import BrokerError
from edalab.cli.common import (
    USAGE,
    CliError,
    Parser,
    add_credentials,
    check_nats_url,
    credentials,
    run_command,
)
from edalab.runtime.app import App

PROG = "edalab worker"


def _where(exc: BaseException) -> str:
    """`` (file, line N)`` of the frame that raised `exc`, if it has one."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _import(module_name: str):
    sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise CliError(f"no module named {exc.name!r} (MODULE is imported from the "
                               "current directory or PYTHONPATH)", USAGE) from None
        raise CliError(f"importing {module_name!r} failed: {exc}{_where(exc)}") from None
    except Exception as exc:  # the module's own code failed
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: "
                           f"{exc}{_where(exc)}") from None


def _target(spec: str):
    """The object ``MODULE:ATTRIBUTE`` names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CliError(f"expected MODULE:APP, got {spec!r}", USAGE)
    module = _import(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise CliError(f"module {module_name!r} has no attribute {attribute!r}",
                           USAGE) from None


def _build(spec: str, target, broker) -> App:
    if isinstance(target, App):
        if broker is not None:
            target.broker = broker
        return target
    if callable(target):
        try:
            app = target(broker) if broker is not None else target()
        except Exception as exc:
            raise CliError(f"{spec} failed: {type(exc).__name__}: {exc}"
                               f"{_where(exc)}") from None
        if isinstance(app, App):
            return app
    raise CliError(f"{spec} is not an App nor a function returning one", USAGE)


def load_app(spec: str, broker=None) -> App:
    """The App named by ``MODULE:ATTRIBUTE`` (an App, or a function of the broker); a
    `CliError` says what is wrong with `spec`."""
    return _build(spec, _target(spec), broker)


def _parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("app", metavar="MODULE:APP",
                        help="the App to serve: an App object, or a function that takes the "
                             "broker and returns one, e.g. myapp.pipeline:app")
    parser.add_argument("--broker", metavar="URL", help="NATS server, e.g. nats://127.0.0.1:4222")
    add_credentials(parser, "For a --broker that requires them")
    parser.add_argument("--ack-wait", type=float, default=30.0,
                        help="seconds before an un-acked event is delivered again")
    parser.add_argument("--lease-ttl", type=float, default=6.0,
                        help="seconds after which a dead worker's partitions are taken over")
    parser.add_argument("--batch", type=int, default=500, help="events per poll")
    parser.add_argument("--idle", type=float, help="stop after this many seconds without events")
    parser.add_argument("--timeout", type=float, help="stop after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the run statistics as JSON")
    return parser


def _connect(args):
    from edalab.brokers.nats.broker import NatsBroker

    check_nats_url(args.broker)
    user, password, token = credentials(args)
    try:
        return NatsBroker(args.broker, user=user, password=password, token=token,
                          ack_wait=args.ack_wait, lease_ttl=args.lease_ttl)
    except BrokerError as exc:
        raise CliError(str(exc)) from None


def _serve(args, app: App):
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{PROG}: serving {args.app} ({', '.join(h.name for h in app.handlers)}) "
          f"on {args.broker or 'the embedded broker'}", file=sys.stderr, flush=True)
    try:
        return app.serve(batch_size=args.batch, idle=args.idle, timeout=args.timeout,
                         stop=stop)
    except Exception as exc:  # a broker failure, a topic missing: the worker cannot go on
        raise CliError(f"serving {args.app} failed: {type(exc).__name__}: {exc}") from None


def _run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    target = _target(args.app)  # a mistake in MODULE:APP shows before any connection
    broker = _connect(args) if args.broker else None
    try:
        stats = _serve(args, _build(args.app, target, broker))
    finally:
        if broker is not None:
            broker.close()
    if args.json:
        frame = stats.to_frame().reset_index()
        print(json.dumps({"wall_seconds": stats.wall_seconds, "stopped_by": stats.stopped_by,
                          "handlers": json.loads(frame.to_json(orient="records")),
                          "state": stats.state,
                          "pauses": json.loads(stats.pauses.to_json(orient="records"))}))
    else:
        print(stats)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(PROG, _run, argv)
