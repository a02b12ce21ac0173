"""How the suite shares the CPUs (pytest-xdist: ``-n`` in pyproject's addopts).

Tests go to the workers file by file, as with ``--dist loadfile``: a notebook's cells must run
in order on one kernel (nbval), and a file's module-scoped fixtures (a NATS cluster, a
simulated ward) are made once. The notebooks' browser checks are the exception: each notebook
is a unit of its own, so the longest tests of the suite are shared by the workers (each
worker starts its own JupyterLab for them).
"""

from __future__ import annotations

import pytest

BROWSER_CHECKS = "tests/project/test_notebooks_browser.py::"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadFileScheduling

    class ByFile(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith(BROWSER_CHECKS) else super()._split_scope(nodeid)

    return ByFile(config, log)  # type: ignore[arg-type]  # xdist's Producer
