"""Signed tree heads and the `Auditor`, and the hash-chain baseline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edalab import Event
from edalab.patterns import (
    AuditError,
    Auditor,
    HashChain,
    MerkleLog,
    SignedTreeHead,
    TreeHeadSigner,
    verify_chain_inclusion,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int, start: int = 0) -> list[Event]:
    return [Event(type="t", source="/s", id=str(i), time=T0, data={"i": i})
            for i in range(start, n)]


@pytest.fixture
def setup():
    log, signer = MerkleLog(_events(10)), TreeHeadSigner.generate()
    auditor = Auditor(signer.public_key, signer.sign(log))
    return log, signer, auditor


def test_signed_head_verifies_with_its_key_only(setup):
    log, signer, _ = setup
    head = signer.sign(log)
    assert head.verify(signer.public_key)
    assert not head.verify(TreeHeadSigner.generate().public_key)
    assert not head._replace(size=9).verify(signer.public_key)


def test_auditor_accepts_a_head_that_extends_the_verified_one(setup):
    log, signer, auditor = setup
    log.extend(_events(17, 10))
    assert auditor.update(signer.sign(log), log.consistency_proof(10)).size == 17
    assert auditor.head.size == 17 and auditor.rejected == 0


def test_auditor_rejects_rewritten_history_and_keeps_its_head(setup):
    _, signer, auditor = setup
    forged = _events(17)
    forged[3] = Event(type="t", source="/s", id="3", time=T0, data={"i": -3})
    other = MerkleLog(forged)
    with pytest.raises(AuditError, match="no valid proof that it extends .* size 10"):
        auditor.update(signer.sign(other), other.consistency_proof(10))
    assert auditor.head.size == 10 and auditor.rejected == 1


def test_auditor_rejects_a_head_without_proof(setup):
    log, signer, auditor = setup
    log.extend(_events(12, 10))
    with pytest.raises(AuditError, match="no valid proof"):
        auditor.update(signer.sign(log))


def test_auditor_rejects_a_shrinking_log_and_a_foreign_signature(setup):
    log, signer, auditor = setup
    with pytest.raises(AuditError, match="smaller than the verified 10"):
        auditor.update(signer.sign(log, 8), [])
    with pytest.raises(AuditError, match="signature is not the log's"):
        auditor.update(TreeHeadSigner.generate().sign(log), [])
    with pytest.raises(TypeError, match="SignedTreeHead"):
        auditor.update(("not", "a head"))  # type: ignore[arg-type]
    assert auditor.rejected == 2


def test_auditor_checks_inclusion_under_its_head(setup):
    log, _, auditor = setup
    assert auditor.check_inclusion(_events(10)[4], 4, log.inclusion_proof(4))
    assert not auditor.check_inclusion(_events(10)[5], 4, log.inclusion_proof(4))
    assert isinstance(auditor.head, SignedTreeHead)


def test_hash_chain_proof_is_linear_and_catches_tampering():
    events = _events(50)
    chain = HashChain(events)
    proof = chain.inclusion_proof(0)
    assert len(proof) == 50  # the link before, then 49 later digests
    assert verify_chain_inclusion(events[0], 0, proof, chain.head)
    changed = Event(type="t", source="/s", id="0", time=T0, data={"i": 1})
    assert not verify_chain_inclusion(changed, 0, proof, chain.head)
    assert not verify_chain_inclusion(events[0], 0, proof[:10] + proof[11:], chain.head)
    with pytest.raises(ValueError, match=r"i must be in \[0, 49\], got 50"):
        chain.inclusion_proof(50)


def test_a_head_travels_as_an_event_and_still_verifies(setup):
    log, signer, _ = setup
    head = signer.sign(log)
    event = Event.from_json(head.to_event().to_json())
    assert event.type == "tree.head"
    back = SignedTreeHead.from_event(event)
    assert back == head and back.verify(signer.public_key)
    bad = event.replace(data={**event.data, "root": "zz"})
    with pytest.raises(ValueError, match="tree head event .*: data needs size, root"):
        SignedTreeHead.from_event(bad)
