"""The state backend conformance suite: what every `edalab.state` backend must do, as pytest
tests a backend runs by providing one fixture.

Subclass `StateSuite` in a test module (a class whose name starts with ``Test``) and give it
a ``backend`` fixture that yields a fresh backend and closes it afterwards. edalab's own
tests run it on `MemoryState`, `SQLiteState` and `NatsState` (on a real ``nats-server``).
This is a testing module: it imports pytest and hypothesis (edalab's ``test`` extra).

Example: a test module for a new backend (the memory backend stands in for it here), run by
pytest in another process with no plugin loaded:

>>> module = '''
... import pytest
... from edalab.state import MemoryState
... from edalab.testing.state_flow import StateSuite
...
... class TestMyState(StateSuite):
...     @pytest.fixture
...     def backend(self):
...         yield MemoryState()
... '''
>>> import os, subprocess, sys, tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as folder:
...     _ = (Path(folder) / "test_my_state.py").write_text(module)
...     run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
...                          cwd=folder, capture_output=True, text=True,
...                          env=os.environ | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
>>> run.returncode, run.stdout.splitlines()[-1]  # doctest: +ELLIPSIS
(0, '13 passed in ...')
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edalab.state.backend import Checkpoint, FencedError, StateBackend

__all__ = ["StateSuite"]

_names = itertools.count()
_keys = st.text(max_size=6)
_changes = st.dictionaries(_keys, st.none() | st.binary(max_size=40), max_size=8)


class StateSuite:
    """The conformance tests; a subclass named ``Test…`` provides the ``backend`` fixture."""

    def test_backend_keeps_the_protocol(self, backend):
        assert isinstance(backend, StateBackend) and isinstance(backend.name, str)

    def test_claim_of_an_empty_store_has_no_values_offset_0_epoch_1(self, backend):
        assert backend.claim("s", 0) == Checkpoint({}, 0, 1)

    def test_save_then_claim_gives_the_values_and_offset(self, backend):
        epoch = backend.claim("s", 0).epoch
        assert backend.save("s", 0, epoch, 10, {"a": b"1", "bb": b"22"}) == 6  # keys + values
        backend.save("s", 0, epoch, 12, {"a": b"3"})
        assert backend.claim("s", 0) == Checkpoint({"a": b"3", "bb": b"22"}, 12, epoch + 1)

    def test_none_deletes_a_key_and_a_missing_key_is_no_error(self, backend):
        epoch = backend.claim("s", 0).epoch
        backend.save("s", 0, epoch, 1, {"a": b"1", "b": b"2"})
        backend.save("s", 0, epoch, 2, {"a": None, "never": None})
        assert backend.claim("s", 0).values == {"b": b"2"}

    def test_each_claim_raises_the_epoch(self, backend):
        epochs = [backend.claim("s", 0).epoch for _ in range(4)]
        assert epochs == sorted(set(epochs)) and epochs[0] >= 1

    def test_a_save_with_an_older_epoch_after_a_claim_is_fenced_and_writes_nothing(
            self, backend):
        old = backend.claim("s", 0).epoch
        backend.save("s", 0, old, 5, {"a": b"1"})
        new = backend.claim("s", 0).epoch
        with pytest.raises(FencedError, match="partition 0"):
            backend.save("s", 0, old, 9, {"a": b"zombie", "b": b"zombie"})
        assert backend.load("s", 0) == Checkpoint({"a": b"1"}, 5, new)
        backend.save("s", 0, new, 6, {"b": b"2"})  # the new owner goes on
        assert backend.load("s", 0) == Checkpoint({"a": b"1", "b": b"2"}, 6, new)

    def test_load_reads_without_claiming(self, backend):
        epoch = backend.claim("s", 0).epoch
        backend.save("s", 0, epoch, 3, {"a": b"1"})
        assert backend.load("s", 0) == backend.load("s", 0) == Checkpoint({"a": b"1"}, 3, epoch)
        backend.save("s", 0, epoch, 4, {"a": b"2"})  # the owner is not fenced by a load
        assert backend.load("other", 0) == Checkpoint({}, 0, 0)

    def test_size_counts_keys_and_values_over_the_partitions_of_a_store(self, backend):
        assert backend.size("s") == 0
        for p in (0, 1):
            backend.save("s", p, backend.claim("s", p).epoch, 1, {"ab": b"123", f"k{p}": b""})
        backend.save("t", 0, backend.claim("t", 0).epoch, 1, {"x": b"1" * 100})
        assert backend.size("s") == 2 * (5 + 2)
        backend.save("s", 0, backend.claim("s", 0).epoch, 2, {"ab": None})
        assert backend.size("s") == 5 + 2 + 2

    def test_stores_and_partitions_are_independent(self, backend):
        for store, p in [("s", 0), ("s", 1), ("s.t", 0), ("s=t", 0)]:
            backend.save(store, p, backend.claim(store, p).epoch, p + 7, {"k": store.encode()})
        backend.claim("s", 1)
        assert backend.load("s", 0) == Checkpoint({"k": b"s"}, 7, 1)
        assert backend.load("s", 1) == Checkpoint({"k": b"s"}, 8, 2)
        assert backend.load("s.t", 0).values == {"k": b"s.t"}
        assert backend.load("s=t", 0).values == {"k": b"s=t"}

    def test_values_are_opaque_bytes_and_keys_any_text(self, backend):
        values = {"": b"", "\x00pending": b"\x00\x01", "ü ✓.*>": bytes(range(256)),
                  "empty": b"", "nul": b"\x00" * 3}
        backend.save("s", 0, backend.claim("s", 0).epoch, 1, values)
        assert backend.claim("s", 0).values == values

    def test_a_large_checkpoint_round_trips(self, backend):
        # 2 MB: more than a NATS message holds (1 MB by default), one value included.
        values = {f"key-{i}": i.to_bytes(4, "big") * 25 for i in range(10_000)}
        values["blob"] = bytes(range(256)) * 4096  # 1 MB in one value
        backend.save("s", 0, backend.claim("s", 0).epoch, 10_000, values)
        assert backend.claim("s", 0) == Checkpoint(values, 10_000, 2)

    def test_close_twice_is_no_error(self, backend):
        backend.close()
        backend.close()

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(saves=st.lists(st.tuples(_changes, st.booleans()), max_size=8))
    def test_any_saves_fold_to_a_dict_model(self, backend, saves):
        store = f"model-{next(_names)}"  # one backend serves every example
        model: dict[str, bytes] = {}
        epoch = backend.claim(store, 0).epoch
        for offset, (changes, reclaim) in enumerate(saves, 1):
            backend.save(store, 0, epoch, offset, changes)
            for key, value in changes.items():
                if value is None:
                    model.pop(key, None)
                else:
                    model[key] = value
            if reclaim:  # a takeover in between: the new owner sees the model
                snap = backend.claim(store, 0)
                assert (snap.values, snap.offset) == (model, offset)
                epoch = snap.epoch
        assert backend.load(store, 0) == Checkpoint(model, len(saves), epoch)
