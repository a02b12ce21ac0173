"""`DefaultsFormatter`: the help format of every `edalab` command and benchmark (it lives
here, below the CLI, so the benchmarks' own parsers use it too; `edalab.cli.common`
re-exports it)."""

from __future__ import annotations

import argparse

__all__ = ["DefaultsFormatter"]


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option's text with its default, ``(default: X)``, unless the
    text says ``(default`` already or there is none to name (None, a flag's False).

    >>> parser = argparse.ArgumentParser(prog="p", formatter_class=DefaultsFormatter)
    >>> _ = parser.add_argument("--days", type=int, default=60, help="simulated days")
    >>> _ = parser.add_argument("--json", action="store_true", help="print JSON")
    >>> print(parser.format_help().split("options:")[1].strip())  # doctest: +NORMALIZE_WHITESPACE
    -h, --help   show this help message and exit
    --days DAYS  simulated days (default: 60)
    --json       print JSON
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("(default" in text or default in (None, False, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"
