"""``python -m edalab.cli``: the `edalab` command without its console script."""

from __future__ import annotations

from edalab.cli import main

if __name__ == "__main__":  # importing the module (as a package walk does) runs nothing
    raise SystemExit(main())
