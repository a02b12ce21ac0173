"""What `edalab worker` and `edalab broker` share: one-line errors and NATS credentials.

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
import os
import sys
from collections.abc import Callable, Mapping
from typing import NoReturn

from edalab.errors import EdalabError

__all__ = ["CREDENTIALS_HELP", "CliError", "Parser", "add_credentials", "credentials",
           "run_command"]

USAGE, FAILURE = 2, 1

CREDENTIALS_HELP = (
    "Arguments are visible to every local user (ps, /proc/PID/cmdline); the environment "
    "variables EDALAB_NATS_USER, EDALAB_NATS_PASSWORD and EDALAB_NATS_TOKEN are not, so "
    "prefer them for secrets. An argument wins over its variable.")


class CliError(EdalabError):
    """A command cannot go on; `code` is its exit status (2 usage mistake, 1 failure)."""

    def __init__(self, message: str, code: int = FAILURE):
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """An `argparse` parser whose usage errors are a `CliError` (one line, exit 2)."""

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
