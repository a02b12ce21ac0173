"""Test suites shipped with edalab: run them on your own operators (and backends)."""

from edalab.testing.operators import check_operator

__all__ = ["check_operator"]
