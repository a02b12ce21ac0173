"""`MerkleLog`: RFC 6962 roots and proofs against the published test vectors and against an
independent implementation (pymerkle), property tests of the proofs, and the log over the
SQLite event store and a topic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edalab import Event
from edalab.patterns import MerkleLog, SqliteEventStore, verify_consistency, verify_inclusion
from edalab.patterns.merkle import EMPTY_ROOT, LogIntegrityError

# The Certificate Transparency reference test data (RFC 6962 hashing): the eight leaf inputs
# and the roots of their prefixes, from transparency-dev/merkle testonly/constants.go
# (LeafInputs, RootHashes); the proofs from certificate-transparency-go's
# merkletree/merkle_verifier_test.go (inclusionProofs, consistencyProofs; indices there are
# 1-based, here 0-based).
CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
                                        "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [bytes.fromhex(h) for h in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
_H = {
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
CT_INCLUSION = [(0, 1, []), (0, 8, ["96a2", "5f08", "6b47"]), (5, 8, ["bc1a", "ca85", "d37e"]),
                (2, 3, ["fac5"]), (1, 5, ["6e34", "5f08", "bc1a"])]
CT_CONSISTENCY = [(1, 1, []), (1, 8, ["96a2", "5f08", "6b47"]), (6, 8, ["0ebc", "ca85", "d37e"]),
                  (2, 5, ["5f08", "bc1a"]), (6, 7, ["0ebc", "b086", "d37e"])]


T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _proof(names: list[str]) -> list[bytes]:
    return [bytes.fromhex(_H[n]) for n in names]


def _events(n: int, seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    return [Event(type="incident.reported", source="/ops", id=f"e{i}", key=f"k{i % 7}",
                  time=T0 + timedelta(seconds=i),
                  data={"i": i, "severity": rng.choice(["low", "high"])}) for i in range(n)]


@pytest.fixture(scope="module")
def ct_log() -> MerkleLog:
    return MerkleLog(CT_LEAVES)  # type: ignore[arg-type]


def test_roots_match_the_rfc6962_reference_vectors(ct_log):
    assert [ct_log.root(n).hex() for n in range(9)] == [r.hex() for r in CT_ROOTS]
    assert MerkleLog().root() == EMPTY_ROOT


@pytest.mark.parametrize(("i", "n", "names"), CT_INCLUSION)
def test_inclusion_proofs_match_the_rfc6962_reference_vectors(ct_log, i, n, names):
    assert ct_log.inclusion_proof(i, n) == _proof(names)
    assert verify_inclusion(CT_LEAVES[i], i, n, _proof(names), CT_ROOTS[n])


@pytest.mark.parametrize(("m", "n", "names"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_rfc6962_reference_vectors(ct_log, m, n, names):
    assert ct_log.consistency_proof(m, n) == _proof(names)
    assert verify_consistency(m, n, CT_ROOTS[m], CT_ROOTS[n], _proof(names))


def test_roots_and_proofs_agree_with_pymerkle_on_random_logs():
    pymerkle = pytest.importorskip("pymerkle")
    rng = random.Random(7)
    for size in (1, 2, 3, 31, 64, 97):
        entries = [rng.randbytes(rng.randrange(0, 40)) for _ in range(size)]
        ours, theirs = MerkleLog(entries), pymerkle.InmemoryTree(algorithm="sha256")
        for n, entry in enumerate(entries, 1):
            theirs.append_entry(entry)
            assert ours.root(n) == theirs.get_root(n)
        for i in rng.sample(range(size), min(size, 5)):  # their proofs, our roots
            pymerkle.verify_inclusion(theirs.get_leaf(i + 1), ours.root(),
                                      theirs.prove_inclusion(i + 1))
            assert verify_inclusion(entries[i], i, size, ours.inclusion_proof(i),
                                    theirs.get_root())
        m = rng.randrange(1, size + 1)
        pymerkle.verify_consistency(ours.root(m), ours.root(), theirs.prove_consistency(m, size))
        assert verify_consistency(m, size, theirs.get_root(m), theirs.get_root(),
                                  ours.consistency_proof(m))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_proof_verifies_and_any_changed_hash_fails(data):
    n = data.draw(st.integers(1, 2000), label="n")
    log = MerkleLog(i.to_bytes(4, "big") for i in range(n + 5))
    i = data.draw(st.integers(0, n - 1), label="i")
    m = data.draw(st.integers(1, n), label="m")
    leaf, root = i.to_bytes(4, "big"), log.root(n)
    inclusion, consistency = log.inclusion_proof(i, n), log.consistency_proof(m, n)
    assert len(inclusion) <= (n - 1).bit_length()
    assert verify_inclusion(leaf, i, n, inclusion, root)
    assert verify_consistency(m, n, log.root(m), root, consistency)
    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i), label="other") \
        if n > 1 else None
    if other is not None:
        assert not verify_inclusion(leaf, other, n, inclusion, root)
    if inclusion:
        k = data.draw(st.integers(0, len(inclusion) - 1), label="k")
        bad = inclusion[:k] + [bytes([inclusion[k][0] ^ 1]) + inclusion[k][1:]] \
            + inclusion[k + 1:]
        assert not verify_inclusion(leaf, i, n, bad, root)
        assert not verify_inclusion(leaf, i, n, inclusion[:-1], root)
    if consistency:
        k = data.draw(st.integers(0, len(consistency) - 1), label="c")
        bad = consistency[:k] + [bytes(32)] + consistency[k + 1:]
        assert not verify_consistency(m, n, log.root(m), root, bad)
    if m < n:  # a different old log is never consistent with this one
        assert not verify_consistency(m, n, log.root(m + 1), root, consistency)


def test_leaf_input_is_the_events_json_in_utf8():
    e = _events(1)[0]
    assert MerkleLog([e]).root() == MerkleLog([e.to_json().encode("utf-8")]).root()


def test_a_malformed_proof_raises_naming_the_bad_hash():
    log = MerkleLog(_events(5))
    proof = log.inclusion_proof(1)
    with pytest.raises(ValueError, match=r"proof\[1\] must be 32 bytes"):
        verify_inclusion(_events(5)[1], 1, 5, [proof[0], proof[1].hex()], log.root())
    with pytest.raises(ValueError, match=r"root\[0\] must be 32 bytes"):
        verify_consistency(2, 5, b"short", log.root(), log.consistency_proof(2))
    with pytest.raises(TypeError, match="proof must be a list of 32-byte hashes"):
        verify_inclusion(_events(5)[1], 1, 5, b"".join(proof), log.root())


def test_sizes_out_of_range_raise_naming_the_argument():
    log = MerkleLog(_events(3))
    with pytest.raises(ValueError, match=r"n must be in \[0, 3\], got 4"):
        log.root(4)
    with pytest.raises(ValueError, match=r"i must be in \[0, 2\], got 3"):
        log.inclusion_proof(3)
    with pytest.raises(ValueError, match=r"m must be in \[0, 2\], got 3"):
        log.consistency_proof(3, 2)
    with pytest.raises(TypeError, match="edalab.Event"):
        log.append({"not": "an event"})  # type: ignore[arg-type]


# -- the log of the SQLite event store, and tampering with it ---------------------------------

@pytest.fixture
def store(tmp_path):
    with SqliteEventStore(tmp_path / "events.db") as s:
        for i, e in enumerate(_events(20)):
            s.append(f"case-{i % 3}", [e], None)
        yield s


def _raw(store) -> object:
    import sqlite3
    return sqlite3.connect(store.path, isolation_level=None)


def test_store_log_follows_the_store_and_proves_each_event(store):
    log = MerkleLog.from_store(store)
    # the events read back hash as the events appended: the log needs no copy of its own
    assert len(log) == 20 and log.root() == MerkleLog(_events(20)).root()
    old_root = log.root()
    store.append("case-9", _events(25)[20:], None)
    assert log.catch_up() == 5
    assert verify_consistency(20, 25, old_root, log.root(), log.consistency_proof(20))
    for i, e in enumerate(s.event for s in store.read_all()):
        assert verify_inclusion(e, i, 25, log.inclusion_proof(i), log.root())


def test_one_byte_changed_in_a_stored_event_fails_verification(store):
    log = MerkleLog.from_store(store)
    root, proof = log.root(), log.inclusion_proof(7)
    with _raw(store) as con:
        con.execute("UPDATE events SET data = replace(data, '\"high\"', '\"hight\"') "
                    "WHERE position = 8")
    tampered = store.read_all(8, limit=1)[0].event
    assert tampered.data != _events(20)[7].data
    assert not verify_inclusion(tampered, 7, 20, proof, root)
    assert MerkleLog.from_store(store).root() != root


def test_a_dropped_event_fails_verification(store):
    log = MerkleLog.from_store(store)
    root = log.root()
    with _raw(store) as con:
        con.execute("DELETE FROM events WHERE position = 5")
    with pytest.raises(LogIntegrityError, match="position 5 is missing"):
        MerkleLog.from_store(store)
    rebuilt = MerkleLog(s.event for s in store.read_all())
    assert len(rebuilt) == 19 and rebuilt.root() != root
    # the event now at index 4 is not the one the signed log had there
    now_at_4 = store.read_all()[4].event
    assert not verify_inclusion(now_at_4, 4, 20, log.inclusion_proof(4), root)
    assert not verify_consistency(19, 20, rebuilt.root(), root, log.consistency_proof(19))


def test_two_reordered_events_fail_verification(store):
    events = [s.event for s in store.read_all()]
    log = MerkleLog(events)
    swapped = events[:3] + [events[4], events[3]] + events[5:]
    assert MerkleLog(swapped).root() != log.root()
    assert not verify_inclusion(events[4], 3, 20, log.inclusion_proof(3), log.root())


# -- the log of a topic ----------------------------------------------------------------------

def test_topic_log_matches_the_partition_and_catches_up(broker):
    broker.create_topic("incidents", partitions=1)
    events = _events(12)
    for e in events[:8]:
        broker.publish("incidents", e)
    log = MerkleLog.from_topic(broker, "incidents")
    assert log.root() == MerkleLog(events[:8]).root()
    for e in events[8:]:
        broker.publish("incidents", e)
    assert log.catch_up() == 4
    assert log.root() == MerkleLog(events).root()


def test_topic_log_of_several_partitions_needs_one_named(broker):
    broker.create_topic("incidents", partitions=3)
    with pytest.raises(ValueError, match="3 partitions: name the partition"):
        MerkleLog.from_topic(broker, "incidents")
    assert len(MerkleLog.from_topic(broker, "incidents", partition=2)) == 0


def test_catch_up_without_a_source_raises():
    with pytest.raises(ValueError, match="no source"):
        MerkleLog().catch_up()
