"""``python -m edalab.cli``: the `edalab` command without its console script."""

from __future__ import annotations

from edalab.cli import main

if __name__ == "__main__":  # not when a tool imports every module of the package
    raise SystemExit(main())
