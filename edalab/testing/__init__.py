"""Test suites shipped with edalab: run them on your own operators and backends.

`check_operator` is here; the conformance suites are modules of their own, because they import
pytest (edalab's ``test`` extra): `edalab.testing.brokers` for a broker backend,
`edalab.testing.eventstore` for an event store.
"""

from edalab.testing.operators import check_operator

__all__ = ["check_operator"]
