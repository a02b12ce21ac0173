"""``python -m edalab.cli``: the `edalab` command without its console script."""

from __future__ import annotations

from edalab.cli import main

raise SystemExit(main())
