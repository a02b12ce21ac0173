"""The `edalab` command line is one package at the top layer, built on the library below it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from edalab.apps.card_scoring import card_scoring
from edalab.cli import main
from edalab.streams.transactions import transaction_events, transactions

EDALAB = Path(__file__).resolve().parents[2] / "edalab"
FACES = ("cli", "bench")  # the packages that parse command lines


def imported_modules(path: Path) -> set[str]:
    """The modules `path` imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def library_modules() -> list[Path]:
    """Every module of edalab outside the faces that parse command lines."""
    return [path for path in EDALAB.rglob("*.py")
            if path.relative_to(EDALAB).parts[0] not in FACES]


def test_only_the_cli_and_bench_parse_command_lines():
    parsing = [str(path.relative_to(EDALAB)) for path in library_modules()
               if "argparse" in imported_modules(path)]
    assert parsing == []


def test_nothing_below_the_cli_imports_it():
    below = [path for path in EDALAB.rglob("*.py")
             if path.relative_to(EDALAB).parts[0] != "cli"]
    importing = [str(path.relative_to(EDALAB)) for path in below
                 if any(name == "edalab.cli" or name.startswith("edalab.cli.")
                        for name in imported_modules(path))]
    assert importing == []


def test_cards_demo_reports_the_card_scoring_apps_alerts(capsys):
    assert main(["demo", "cards", "--clock", "virtual"]) == 0
    out = capsys.readouterr().out
    app = card_scoring()
    df = transactions(customers=500, terminals=1000, days=30, seed=7)
    app.source("transactions", transaction_events(df))
    app.run()
    frauds = [record.event.data["fraud"] for record in app.broker.read("alerts")]
    assert re.search(r"^score +transactions +scoring ", out, re.MULTILINE)
    assert re.search(r"^alert +scores +alerting ", out, re.MULTILINE)
    assert f"alerts: {len(frauds)}, of which real frauds: {sum(frauds)} " in out
