"""`edalab demo [NAME]`: the end-to-end demos, each on the embedded broker.

``edalab demo`` alone runs the default demo; ``edalab demo NAME --help`` shows a demo's options.
"""

from __future__ import annotations

import importlib
import sys

#: Demo name → module whose ``main(argv)`` runs it.
DEMOS = {
    "fraud": "edalab.fraud.demo",
    "health": "edalab.health.demo",
    "cards": "edalab.cards_demo",
}
DEFAULT = "fraud"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: edalab demo [{'|'.join(DEMOS)}] [OPTIONS]\n"
              f"default: {DEFAULT}; edalab demo NAME --help shows a demo's options")
        return 0
    name = DEFAULT
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
        if name not in DEMOS:
            print(f"edalab demo: unknown demo {name!r}; choose from {', '.join(DEMOS)}",
                  file=sys.stderr)
            return 2
    return int(importlib.import_module(DEMOS[name]).main(argv) or 0)
