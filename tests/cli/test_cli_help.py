"""Every `edalab` command documents itself: each option has help, shows its default and says
what each of its choices is; `demo` and `bench` list what each one does; `--version` works."""

from __future__ import annotations

import argparse

import pytest

import edalab
from edalab.cli import main
from edalab.cli.bench import benchmarks
from edalab.cli.demo import DEMOS
from edalab.cli.simulate import KINDS


class _Captured(BaseException):  # a BaseException: no command's `except Exception` takes it
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def _commands() -> list[tuple[str, ...]]:
    return ([("demo", name) for name in DEMOS] + [("bench", name) for name in benchmarks()]
            + [("simulate", kind) for kind in KINDS] + [("worker",), ("broker",), ("dlq",)])


def _parser(command: tuple[str, ...], monkeypatch) -> argparse.ArgumentParser:
    """The parser `command` builds: its main runs until it parses the arguments."""
    def capture(self, args=None, namespace=None):
        raise _Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setenv("EDALAB_DEBUG", "1")  # main lets what escapes a command through
    with pytest.raises(_Captured) as caught:
        main([*command, "--out", "x.csv"] if command[0] == "simulate" else list(command))
    return caught.value.parser


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_every_option_of_every_command_has_help_its_default_and_its_choices(command,
                                                                             monkeypatch):
    parser = _parser(command, monkeypatch)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help is not argparse.SUPPRESS, \
            f"edalab {' '.join(command)}: {name} has no help"
        text = formatter._expand_help(action)
        if action.option_strings and action.default not in (None, False):
            assert "(default" in text, f"edalab {' '.join(command)}: {name} hides its default"
        for choice in action.choices or ():
            assert f"{choice}:" in text, \
                f"edalab {' '.join(command)}: {name} does not say what {choice!r} is"
    assert "``" not in parser.format_help()


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"edalab {edalab.__version__}"


def test_demo_help_says_what_each_demo_does(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    for name in DEMOS:
        line = next(row for row in out.splitlines() if row.split()[:1] == [name])
        assert len(line.split()) > 4, line  # the name and a sentence


@pytest.mark.parametrize("flag", ["--list", "--help"])
def test_bench_list_says_what_each_benchmark_does(flag, capsys):
    assert main(["bench", flag]) == 0
    out = capsys.readouterr().out
    assert "``" not in out
    for name in benchmarks():
        line = next(row for row in out.splitlines() if row.split()[:1] == [name])
        assert len(line.split()) > 4, line
