"""What the `edalab` commands share: one-line errors, NATS credentials, argparse types.

A command fails with one line on stderr, ``PROG: error: WHAT``, and exit status 2 for a usage
mistake or 1 for a runtime failure; never a traceback. Credentials come from arguments or,
unseen by other local users, from the environment.

>>> import argparse
>>> args = argparse.Namespace(user="alice", password=None, token=None)
>>> credentials(args, {"EDALAB_NATS_PASSWORD": "s3cret", "EDALAB_NATS_TOKEN": "t"})
('alice', 's3cret', None)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from edalab.bench._help import DefaultsFormatter
from edalab.errors import EdalabError

__all__ = ["CLOCK_HELP", "CREDENTIALS_HELP", "CliError", "DefaultsFormatter", "Parser",
           "add_credentials", "check_nats_url", "choices_help", "credentials", "non_negative",
           "positive",
           "run_command", "writable_file"]

USAGE, FAILURE = 2, 1

CREDENTIALS_HELP = (
    "Arguments are visible to every local user (ps, /proc/PID/cmdline); the environment "
    "variables EDALAB_NATS_USER, EDALAB_NATS_PASSWORD and EDALAB_NATS_TOKEN are not, so "
    "prefer them for secrets. An argument wins over its variable.")


CLOCK_HELP = ("virtual: the app's clock is the stream's event time and the run goes as fast "
              "as it can (reproducible); wall: the machine's clock (latencies in real time)")


def choices_help(what: str, described: Mapping[str, str]) -> str:
    """An option's help text that says what each of its choices is.

    >>> choices_help("the clock", {"virtual": "event time", "wall": "real time"})
    'the clock: virtual: event time; wall: real time'
    """
    return f"{what}: " + "; ".join(f"{name}: {text}" for name, text in described.items())


class CliError(EdalabError):
    """A command cannot go on; `code` is its exit status (2 usage mistake, 1 failure)."""

    def __init__(self, message: str, code: int = FAILURE):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """An `argparse` parser whose usage errors are a `CliError` (one line, exit 2) and whose
    help shows each option's default (`DefaultsFormatter`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} ({self.prog} --help shows the options)", USAGE)


def run_command(prog: str, body: Callable[[list[str] | None], int],
                argv: list[str] | None) -> int:
    """Run `body(argv)`; a `CliError` becomes one line on stderr and its exit status."""
    try:
        return body(argv)
    except CliError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.code


def add_credentials(parser: argparse.ArgumentParser, what: str) -> None:
    """The --user, --password and --token options, documented with `CREDENTIALS_HELP`."""
    group = parser.add_argument_group("credentials", f"{what}. {CREDENTIALS_HELP}")
    group.add_argument("--user", help="user name (or EDALAB_NATS_USER)")
    group.add_argument("--password", help="password of --user (or EDALAB_NATS_PASSWORD)")
    group.add_argument("--token", help="token instead of user and password "
                                       "(or EDALAB_NATS_TOKEN)")


def credentials(args: argparse.Namespace, environ: Mapping[str, str] = os.environ,
                ) -> tuple[str | None, str | None, str | None]:
    """(user, password, token) from the arguments, else the environment. Arguments of one
    kind (user and password, or token) hide variables of the other kind."""
    user = args.user or environ.get("EDALAB_NATS_USER") or None
    password = args.password or environ.get("EDALAB_NATS_PASSWORD") or None
    token = args.token or environ.get("EDALAB_NATS_TOKEN") or None
    if args.token and not (args.user or args.password):
        user = password = None
    elif (args.user or args.password) and not args.token:
        token = None
    if token and (user or password):
        raise CliError("give a user and password, or a token, not both", USAGE)
    if bool(user) != bool(password):
        missing = "--password or EDALAB_NATS_PASSWORD" if user else \
            "--user or EDALAB_NATS_USER"
        raise CliError(f"a user needs a password and a password a user: set {missing}",
                           USAGE)
    return user, password, token


_NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def check_nats_url(url: str, option: str = "--broker") -> None:
    """Refuse `url` (a usage `CliError`) unless it is a NATS server URL.

    >>> check_nats_url("nats://127.0.0.1:4222")
    >>> check_nats_url("http://127.0.0.1:4222")
    Traceback (most recent call last):
    edalab.cli.common.CliError: --broker 'http://127.0.0.1:4222' is not a NATS server URL; expected nats://HOST:PORT
    """
    parts = urlsplit(url if "://" in url else "nats://" + url)
    try:
        parts.port  # noqa: B018 -- parsing the port is the check
    except ValueError:
        raise CliError(f"{option} {url!r}: the port is not a number from 0 to 65535",
                       USAGE) from None
    if parts.scheme not in _NATS_SCHEMES or not parts.hostname:
        raise CliError(f"{option} {url!r} is not a NATS server URL; expected "
                       "nats://HOST:PORT", USAGE)


def _bounded(convert: Callable[[str], Any], zero: bool) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        value = convert(text)  # a ValueError here is argparse's "invalid int value: 'x'"
        if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if zero else '> 0'}, got {text}")
        return value

    check.__name__ = convert.__name__
    return check


def positive(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: `convert` the text, then refuse a value that is not finite and > 0.

    >>> positive(int)("3")
    3
    >>> positive(float)("-1.5")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be > 0, got -1.5
    """
    return _bounded(convert, zero=False)


def non_negative(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: `convert` the text, then refuse a value that is not finite and >= 0.

    >>> non_negative(float)("0")
    0.0
    """
    return _bounded(convert, zero=True)


def writable_file(text: str) -> Path:
    """An argparse type: a file path that can be written now (checked before a long run).

    >>> writable_file("/no/such/dir/report.html")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: cannot write '/no/such/dir/report.html': no directory /no/such/dir
    """
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: it is a directory")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: no directory {path.parent}")
    try:
        if path.exists():
            with open(path, "a"):  # opened for appending: its content is left as it is
                pass
        else:  # a throw-away file tries the directory without leaving the target behind
            with tempfile.TemporaryFile(dir=path.parent):
                pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {exc.strerror}") from None
    return path
