"""`edalab dlq list|replay TOPIC --broker URL`: inspect a topic's dead letters and redrive them.

``list`` prints a summary by error class (how many, the first and last event time) and the dead
letters themselves; ``replay`` publishes them again with their original ids to the topic they
failed on (or ``--to``), all of them or those ``--where`` picks, and prints how many. Both
work on a NATS server (``--broker nats://HOST:PORT``). The embedded memory broker lives inside
one Python process, so another process cannot see its dead letters: from Python, pass the
broker itself, ``main(argv, broker=broker)``, or call `edalab.resilience.dead_letters` and
`edalab.resilience.redrive`.

>>> from edalab import App, Event, MemoryBroker
>>> broker = MemoryBroker()
>>> app = App(broker)
>>> @app.handler("amounts", max_attempts=1)
... def check(event):
...     if event.data < 0:
...         raise ValueError("negative amount")
>>> app.source("amounts", [Event("amount", "/doc", d, id=f"a{d}") for d in [5, -1, -2]])
>>> _ = app.run()
>>> main(["replay", "amounts", "--where", "id == 'a-1'"], broker=broker)
redrove 1 dead letter of 'amounts' to the topic each failed on
0
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from edalab.brokers.base import Broker, BrokerError, UnknownTopicError, dead_letter_topic
from edalab.cli.common import (
    USAGE,
    CliError,
    Parser,
    add_credentials,
    check_nats_url,
    choices_help,
    credentials,
    non_negative,
    run_command,
)

__all__ = ["main", "by_error_class"]

PROG = "edalab dlq"
ACTIONS = {"list": "print the dead letters by error class (count, first and last event time) "
                   "and the newest of them",
           "replay": "publish the dead letters again, with their original ids, to the topic "
                     "they failed on (or --to); prints how many"}
NO_MEMORY = ("the embedded memory broker lives inside one Python process, so another process "
             "cannot see its dead letters: give --broker nats://HOST:PORT (a NATS server), or "
             "from Python call edalab.resilience.dead_letters / redrive, or "
             "edalab.cli.dlq.main(argv, broker=your_broker)")


def _parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=list(ACTIONS), help=choices_help("what to do", ACTIONS))
    parser.add_argument("topic", metavar="TOPIC",
                        help="the topic whose dead letters (TOPIC.dlq) to use; TOPIC.dlq works "
                             "too")
    parser.add_argument("--broker", metavar="URL",
                        help="the NATS server, e.g. nats://127.0.0.1:4222 (required: the "
                             "embedded memory broker cannot be reached from another process)")
    add_credentials(parser, "For a --broker that requires them")
    parser.add_argument("--group", help="list: only the dead letters of this consumer group")
    parser.add_argument("--rows", type=non_negative(int), default=20,
                        help="list: how many dead letters to show, newest last (0: only the "
                             "summary)")
    parser.add_argument("--where", metavar="EXPR",
                        help="replay: only the dead letters this condition keeps, a pandas "
                             "query over the listed columns, e.g. \"error_class == "
                             "'TimeoutError'\"")
    parser.add_argument("--to", metavar="TOPIC",
                        help="replay: publish to this topic instead of the one each failed on")
    return parser


def by_error_class(letters: pd.DataFrame) -> pd.DataFrame:
    """Dead letters by error class: `count`, and the first and last event `time`.

    >>> from datetime import datetime, timezone
    >>> t = [datetime(2024, 1, d, tzinfo=timezone.utc) for d in (1, 2, 3)]
    >>> letters = pd.DataFrame({"error_class": ["ValueError", "", "ValueError"], "time": t})
    >>> print(by_error_class(letters).to_string(index=False))
    error_class  count                first_time                 last_time
         (none)      1 2024-01-02 00:00:00+00:00 2024-01-02 00:00:00+00:00
     ValueError      2 2024-01-01 00:00:00+00:00 2024-01-03 00:00:00+00:00
    """
    classes = letters["error_class"].replace("", "(none)")
    times = letters.groupby(classes)["time"]
    return times.agg(count="count", first_time="min", last_time="max").reset_index()


def _list(broker: Broker, args: argparse.Namespace) -> None:
    from edalab.resilience import dead_letters

    letters = dead_letters(broker, args.topic, group=args.group)
    topic = dead_letter_topic(args.topic.removesuffix(".dlq"))
    group = f" of group {args.group!r}" if args.group else ""
    print(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}{group} in {topic}")
    if letters.empty:
        return
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.max_colwidth", 60):
        print(f"\n{by_error_class(letters).to_string(index=False)}")
        if args.rows:
            shown = letters.tail(args.rows)
            print(f"\n{shown.to_string(index=False)}")


def _replay(broker: Broker, args: argparse.Namespace) -> None:
    from edalab.resilience import redrive

    try:
        n = redrive(broker, args.topic, where=args.where, to=args.to)
    except ValueError as exc:  # a --where that is not a condition over the columns
        raise CliError(str(exc), USAGE) from None
    original = args.topic.removesuffix(".dlq")
    target = repr(args.to) if args.to else "the topic each failed on"
    print(f"redrove {n} dead letter{'' if n == 1 else 's'} of {original!r} to {target}")


def _connect(args: argparse.Namespace) -> Broker:
    if not args.broker or args.broker == "memory":
        raise CliError(NO_MEMORY, USAGE)
    from edalab.brokers.nats.broker import NatsBroker

    check_nats_url(args.broker)
    user, password, token = credentials(args)
    try:
        return NatsBroker(args.broker, user=user, password=password, token=token)
    except BrokerError as exc:
        raise CliError(str(exc)) from None


def _check(args: argparse.Namespace) -> None:
    """Refuse options that belong to the other action (a usage mistake, not silence)."""
    other = {"list": ("--where", "--to"), "replay": ("--group",)}[args.action]
    given = [o for o in other if getattr(args, o[2:]) is not None]
    if given:
        raise CliError(f"{', '.join(given)} is not an option of {args.action} "
                       f"({PROG} --help shows the options)", USAGE)


def _run(argv: list[str] | None, broker: Any = None) -> int:
    args = _parser().parse_args(argv)
    _check(args)
    own = broker is None
    if own:
        broker = _connect(args)
    try:
        (_list if args.action == "list" else _replay)(broker, args)
    except (UnknownTopicError, BrokerError) as exc:
        raise CliError(str(exc)) from None
    finally:
        if own:
            broker.close()
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None, broker: Broker | None = None) -> int:
    """Run ``edalab dlq ...`` (the arguments after ``dlq``); the exit status. With `broker`,
    on that broker object (an embedded `MemoryBroker`, say) instead of ``--broker``."""
    return run_command(PROG, lambda a: _run(a, broker), argv)
