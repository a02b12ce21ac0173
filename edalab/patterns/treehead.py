"""Signed tree heads and the auditor that follows them.

A log operator signs its `MerkleLog`'s size and root with Ed25519 (the `cryptography`
package): a `SignedTreeHead`. An `Auditor` keeps the last head it verified and accepts a new
one only with a valid signature and a consistency proof that the new log extends the old;
anything else raises `AuditError` and leaves the kept head as it was.

>>> from edalab import Event
>>> from edalab.patterns.merkle import MerkleLog
>>> log, signer = MerkleLog(), TreeHeadSigner.generate()
>>> _ = log.extend(Event(type="t", source="/s", id=str(i)) for i in range(3))
>>> auditor = Auditor(signer.public_key)
>>> auditor.update(signer.sign(log))
SignedTreeHead(size=3, root=...)
>>> _ = log.append(Event(type="t", source="/s", id="3"))
>>> auditor.update(signer.sign(log), log.consistency_proof(3)).size
4
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edalab.errors import EdalabError
from edalab.events import Event
from edalab.patterns.merkle import MerkleLog, verify_consistency, verify_inclusion

__all__ = ["AuditError", "Auditor", "SignedTreeHead", "TreeHeadSigner"]

_DOMAIN = b"edalab-tree-head-v1"


class AuditError(EdalabError, ValueError):
    """A tree head failed an audit: a bad signature, a shrinking log, or no valid proof that
    it extends the last verified head."""


class SignedTreeHead(NamedTuple):
    """A log's size and root at a time (milliseconds since the epoch), signed."""

    size: int
    root: bytes
    timestamp_ms: int
    signature: bytes

    def message(self) -> bytes:
        """The bytes that are signed: a domain tag, size, timestamp and root."""
        return _DOMAIN + struct.pack(">QQ", self.size, self.timestamp_ms) + self.root

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is `public_key`'s over this head."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def to_event(self, source: str = "/edalab/patterns/treehead") -> Event:
        """The head as a ``tree.head`` event (hex root and signature), to publish on a topic
        auditors follow."""
        return Event("tree.head", source, {"size": self.size, "root": self.root.hex(),
                                           "timestamp_ms": self.timestamp_ms,
                                           "signature": self.signature.hex()},
                     time=datetime.fromtimestamp(self.timestamp_ms / 1000, UTC),
                     id=f"tree-head-{self.size}-{self.timestamp_ms}")

    @classmethod
    def from_event(cls, event: Event) -> SignedTreeHead:
        """The head a ``tree.head`` event carries; `ValueError` naming what is wrong."""
        data = event.data
        try:
            return cls(int(data["size"]), bytes.fromhex(data["root"]),
                       int(data["timestamp_ms"]), bytes.fromhex(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"tree head event {event.id!r}: data needs size, root, "
                             f"timestamp_ms and signature (hex): {exc}") from None

    def __repr__(self) -> str:
        return (f"SignedTreeHead(size={self.size}, root={self.root.hex()[:16]}..., "
                f"timestamp_ms={self.timestamp_ms})")


class TreeHeadSigner:
    """Signs a `MerkleLog`'s heads with an Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"private_key must be an Ed25519PrivateKey, got "
                            f"{type(private_key).__name__}")
        self._key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()

    @classmethod
    def generate(cls) -> TreeHeadSigner:
        """A signer with a fresh key."""
        return cls(Ed25519PrivateKey.generate())

    def sign(self, log: MerkleLog, n: int | None = None,
             timestamp_ms: int | None = None) -> SignedTreeHead:
        """The signed head of `log`'s first `n` events (all when None)."""
        size = len(log) if n is None else n
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        unsigned = SignedTreeHead(size, log.root(size), stamp, b"")
        return unsigned._replace(signature=self._key.sign(unsigned.message()))


class Auditor:
    """Keeps the last verified head of one log (signed by `public_key`) and accepts a new
    head only when it provably extends it.

    The first head is trusted on first use (pass `head` to start from a known one).
    """

    def __init__(self, public_key: Ed25519PublicKey, head: SignedTreeHead | None = None) -> None:
        self.public_key = public_key
        self.head: SignedTreeHead | None = None
        self.rejected = 0
        if head is not None:
            self.update(head)

    def update(self, new: SignedTreeHead,
               proof: Sequence[bytes] = ()) -> SignedTreeHead:
        """Verify `new` against the kept head with `proof` (the log's
        ``consistency_proof(head.size, new.size)``) and keep it; `AuditError` otherwise."""
        if not isinstance(new, SignedTreeHead):
            raise TypeError(f"new must be a SignedTreeHead, got {type(new).__name__}")
        old = self.head
        if not new.verify(self.public_key):
            self._reject(f"head of size {new.size}: the signature is not the log's")
        if old is not None:
            if new.size < old.size:
                self._reject(f"head of size {new.size} is smaller than the verified "
                             f"{old.size}: a log never shrinks")
            if not verify_consistency(old.size, new.size, old.root, new.root, proof):
                self._reject(f"head of size {new.size}: no valid proof that it extends the "
                             f"verified head of size {old.size} (history was rewritten, or "
                             "the proof is wrong)")
        self.head = new
        return new

    def check_inclusion(self, event: Event | bytes, i: int, proof: Sequence[bytes]) -> bool:
        """True when `proof` shows `event` is entry `i` under the kept head."""
        if self.head is None:
            raise ValueError("the auditor has verified no head yet")
        return verify_inclusion(event, i, self.head.size, proof, self.head.root)

    def _reject(self, why: str) -> None:
        self.rejected += 1
        raise AuditError(f"audit rejected the {why}; the last verified head is kept")
