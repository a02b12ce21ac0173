"""The `edalab` command line.

Each command lives in its own module of this package and exposes ``main(argv) -> int``; this
file only routes (and turns an error escaping a command into one line):

- ``edalab demo [NAME]``            → ``edalab.cli.demo`` (the fraud, health and cards demos)
- ``edalab bench NAME``             → ``edalab.cli.bench`` (to ``edalab.bench.NAME``)
- ``edalab simulate KIND --out F``  → ``edalab.cli.simulate``
- ``edalab worker MODULE:APP``      → ``edalab.cli.worker``
- ``edalab broker start``           → ``edalab.cli.broker``
- ``edalab dlq list|replay TOPIC``  → ``edalab.cli.dlq``

The console script ``edalab`` and ``python -m edalab.cli`` both run `main`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USAGE = """usage: edalab COMMAND [ARGS]

commands:
  demo [NAME]             run a small pipeline on the embedded broker and print its statistics
  bench NAME [--json]     run a benchmark (edalab bench --list shows them)
  simulate KIND --out F   write a simulated data set (transactions, vitals, sensors)
  worker MODULE:APP       serve an App's handlers, e.g. on NATS: --broker nats://HOST:PORT
  broker start            start a local NATS JetStream server
  dlq list|replay TOPIC   inspect a topic's dead letters by error class, or redrive them (NATS)

edalab --version prints the version; edalab COMMAND --help shows a command's options.
A command that fails prints one line, "edalab COMMAND: error: ...", and exits 1 (130 when
interrupted); set EDALAB_DEBUG=1 to see the traceback instead."""


def _one_line(exc: BaseException) -> str:
    """An exception as one line of text (its class name when it has no message).

    >>> _one_line(ValueError("days must be >= 1,\\n  got -1"))
    'days must be >= 1, got -1'
    >>> _one_line(ZeroDivisionError())
    'ZeroDivisionError'
    """
    return " ".join(str(exc).split()) or type(exc).__name__


def _route(command: str, rest: list[str]) -> int:
    # Each command is imported only when run: `edalab demo cards` does not load NATS.
    run: Callable[[list[str]], int]
    if command == "demo":
        from edalab.cli.demo import main as run
    elif command == "simulate":
        from edalab.cli.simulate import main as run
    elif command == "worker":
        from edalab.cli.worker import main as run
    elif command == "broker":
        from edalab.cli.broker import main as run
    elif command == "bench":
        from edalab.cli.bench import main as run
    elif command == "dlq":
        from edalab.cli.dlq import main as run
    else:
        print(f"edalab: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return int(run(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the `edalab` command line; returns the exit status.

    Any error escaping a command is printed on one line (not as a traceback) and gives status 1;
    an interrupt (Ctrl-C) gives 130. ``EDALAB_DEBUG=1`` lets both propagate, with traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"edalab {version('edalab')}")
        return 0
    try:
        return _route(argv[0], argv[1:])
    except KeyboardInterrupt:
        if os.environ.get("EDALAB_DEBUG") == "1":
            raise
        return 130
    except Exception as exc:
        if os.environ.get("EDALAB_DEBUG") == "1":
            raise
        command = " ".join(argv[:2] if argv[0] == "bench" else argv[:1])  # bench NAME
        print(f"edalab {command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
