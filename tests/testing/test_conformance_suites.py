"""The shipped conformance suites fail a backend that breaks the contract, naming the tests
that catch it. Each suite runs as a user runs it: its own pytest process, no plugin loaded."""

from __future__ import annotations

import os
import re
import subprocess
import sys

BROKER_THAT_DROPS_WHAT_IT_NACKS = '''
import pytest
from edalab import MemoryBroker
from edalab.testing.brokers import BrokerSuite


class DropsWhatItNacks(MemoryBroker):
    def subscribe(self, *args, **kwargs):
        consumer = super().subscribe(*args, **kwargs)
        consumer.nack = lambda record, error=None, delay=0.0: consumer.ack([record])
        return consumer


class TestBackend(BrokerSuite):
    @pytest.fixture
    def broker(self):
        with DropsWhatItNacks() as broker:
            yield broker
'''

STORE_WITHOUT_CONCURRENCY_CHECK = '''
import pytest
from edalab.patterns.eventstore import MemoryEventStore
from edalab.testing.eventstore import EventStoreSuite


class LastWriterWins(MemoryEventStore):
    def append(self, stream_id, events, expected_version):
        return super().append(stream_id, events, None)


class TestBackend(EventStoreSuite):
    @pytest.fixture
    def store(self):
        with LastWriterWins() as store:
            yield store
'''


def run_suite(folder, module: str) -> tuple[set[str], str]:
    """Run `module` under pytest in `folder`: the names of the failed tests, the summary."""
    (folder / "test_backend.py").write_text(module)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"],
                         cwd=folder, capture_output=True, text=True, timeout=300,
                         env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    failed = set(re.findall(r"^FAILED \S+::TestBackend::(\S+)", run.stdout, re.MULTILINE))
    return failed, run.stdout.splitlines()[-1]


def test_broker_suite_fails_a_broker_that_drops_what_it_nacks(tmp_path):
    failed, summary = run_suite(tmp_path, BROKER_THAT_DROPS_WHAT_IT_NACKS)
    caught_by = {name.partition("[")[0] for name in failed}  # any of the seeded workloads
    assert caught_by == {"test_nack_redelivers_then_dead_letters",
                         "test_nack_keeps_other_records_flowing", "test_stale_nack_is_ignored",
                         "test_no_reader_changes_the_data_another_sees",
                         "test_random_workload_loses_nothing",
                         "test_nack_with_a_delay_redelivers_after_it_while_others_flow",
                         "test_nack_refuses_a_negative_delay"}, summary
    assert re.fullmatch(rf"{len(failed)} failed, {36 - len(failed)} passed in .*", summary)


def test_event_store_suite_fails_a_store_without_the_concurrency_check(tmp_path):
    failed, summary = run_suite(tmp_path, STORE_WITHOUT_CONCURRENCY_CHECK)
    assert failed == {"test_stale_expected_version_raises_and_writes_nothing",
                      "test_expected_version_ahead_of_the_stream_is_a_conflict",
                      "test_bad_arguments_raise_clear_errors"}, summary  # expected_version=-1
    assert re.fullmatch(r"3 failed, 13 passed in .*", summary), summary
