"""A verifiable event log: an RFC 6962 Merkle tree over an append-only log of events.

The leaf of event ``e`` is ``SHA-256(0x00 || e.to_json().encode())`` and an inner node is
``SHA-256(0x01 || left || right)`` (RFC 6962 section 2.1, the hashing of Certificate
Transparency). From the tree come the root of the first ``n`` events, an **inclusion proof**
(event ``i`` is in the log of size ``n``) and a **consistency proof** (the log of size ``n``
extends the log of size ``m`` without rewriting it), each ``O(log n)`` hashes; anyone holding
a root checks them with `verify_inclusion` and `verify_consistency` and nothing else.

>>> from edalab import Event
>>> log = MerkleLog()
>>> events = [Event(type="note", source="/doc", id=str(i), data={"i": i}) for i in range(5)]
>>> for e in events:
...     _ = log.append(e)
>>> proof = log.inclusion_proof(3)
>>> len(proof), verify_inclusion(events[3], 3, 5, proof, log.root())
(3, True)
>>> verify_inclusion(events[2], 3, 5, proof, log.root())
False
>>> verify_consistency(2, 5, log.root(2), log.root(), log.consistency_proof(2))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256
from typing import Any

from edalab.errors import EdalabError
from edalab.events import Event

__all__ = ["LogIntegrityError", "MerkleLog", "leaf_hash", "node_hash", "verify_consistency",
           "verify_inclusion"]

EMPTY_ROOT = sha256(b"").digest()


class LogIntegrityError(EdalabError, ValueError):
    """A log's source is not the append-only log it claims to be (a position is missing)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of `data`: ``SHA-256(0x00 || data)``.

    >>> leaf_hash(b"").hex()[:16]
    '6e340b9cffb37a98'
    """
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes | bytearray, right: bytes | bytearray) -> bytes:
    """RFC 6962 inner node hash: ``SHA-256(0x01 || left || right)``."""
    return sha256(b"\x01" + left + right).digest()


def _leaf_input(event: Event | bytes) -> bytes:
    if isinstance(event, bytes):
        return event
    if event.__class__ is not Event:
        raise TypeError(f"a Merkle leaf is an edalab.Event (or its bytes), got "
                        f"{type(event).__name__}")
    return event.to_json().encode()


def _split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


class MerkleLog:
    """An append-only log of events with RFC 6962 roots and proofs.

    Every complete subtree's hash is kept (``2n`` hashes in flat byte arrays), so `append` is
    amortised one leaf and one node hash, and `root`, `inclusion_proof` and
    `consistency_proof` of any prefix take ``O(log n)`` look-ups.

    Build one from an event store (`from_store`) or a topic's partition (`from_topic`); such a
    log keeps its source, and `catch_up` appends what arrived there since.
    """

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self._source: Callable[[int], Iterable[Event]] | None = None
        self.extend(events)

    # -- building ---------------------------------------------------------------------------

    def append(self, event: Event | bytes) -> int:
        """Add `event` (or raw leaf bytes) as the next leaf; returns its index (0-based)."""
        h = leaf_hash(_leaf_input(event))
        levels = self._levels
        index = self._size
        levels[0] += h
        self._size = size = index + 1
        level = 0
        while size & 1 == 0:  # a complete subtree just closed: keep its parent
            row = levels[level]
            parent = node_hash(row[-64:-32], row[-32:])
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += parent
            size >>= 1
        return index

    def extend(self, events: Iterable[Event | bytes]) -> int:
        """Append each of `events`; returns how many."""
        count = 0
        for e in events:
            self.append(e)
            count += 1
        return count

    @classmethod
    def from_store(cls, store: Any) -> MerkleLog:
        """The log of an `EventStore`'s events in global position order.

        The leaf is each event as `read_all` returns it (with the store's upcasters applied).
        """
        def read(start: int) -> Iterable[Event]:
            while True:
                page = store.read_all(start + 1, limit=10_000)
                if not page:
                    return
                for s in page:
                    start += 1
                    if s.position != start:  # positions are gap-free unless rows were removed
                        raise LogIntegrityError(f"event store: position {start} is missing "
                                                f"(the next is {s.position}): an event was "
                                                "removed from the log")
                    yield s.event

        log = cls()
        log._source = read
        log.catch_up()
        return log

    @classmethod
    def from_topic(cls, broker: Any, topic: str, partition: int | None = None) -> MerkleLog:
        """The log of one partition of a broker's topic, in offset order.

        A topic with one partition needs no `partition`; with several, name one (their
        interleaving is no log order, so a root over it would prove nothing).
        """
        if partition is None:
            count = broker.partitions(topic)
            if count != 1:
                raise ValueError(f"topic {topic!r} has {count} partitions: name the partition "
                                 "whose log to verify (a Merkle log follows one ordered log)")
            partition = 0

        first: list[int] = []  # the offset of the log's first event, as first read

        def read(start: int) -> Iterable[Event]:
            records = broker.read(topic, partition)
            if not records:
                return []
            if not first:
                first.append(records[0].offset)
            if records[0].offset != first[0]:
                raise LogIntegrityError(f"topic {topic!r} partition {partition}: the log now "
                                        f"starts at offset {records[0].offset}, not "
                                        f"{first[0]} (retention dropped its head)")
            return [r.event for r in records[start:]]

        log = cls()
        log._source = read
        log.catch_up()
        return log

    def catch_up(self) -> int:
        """Append the events the source (store or topic) has beyond this log; returns how
        many."""
        if self._source is None:
            raise ValueError("this MerkleLog has no source: build it with from_store or "
                             "from_topic to catch up")
        return self.extend(self._source(self._size))

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        root = self.root().hex()[:16]
        return f"MerkleLog(size={self._size}, root={root}...)"

    def leaf(self, i: int) -> bytes:
        """The leaf hash of event `i`."""
        _check_size("i", i, 0, self._size - 1)
        return bytes(self._levels[0][32 * i:32 * i + 32])

    def root(self, n: int | None = None) -> bytes:
        """The Merkle tree hash of the first `n` events (all when None); SHA-256 of nothing
        for an empty log."""
        n = self._size if n is None else _check_size("n", n, 0, self._size)
        return self._subtree(0, n) if n else EMPTY_ROOT

    def inclusion_proof(self, i: int, n: int | None = None) -> list[bytes]:
        """The audit path of event `i` in the log's first `n` events (RFC 6962 PATH)."""
        n = self._size if n is None else _check_size("n", n, 1, self._size)
        _check_size("i", i, 0, n - 1)
        proof: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # descend towards leaf i; siblings collected bottom-up at the end
            k = _split(hi - lo)
            if i < lo + k:
                proof.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree(lo, lo + k))
                lo += k
        proof.reverse()
        return proof

    def consistency_proof(self, m: int, n: int | None = None) -> list[bytes]:
        """The proof that the log's first `n` events extend its first `m` (RFC 6962
        SUBPROOF); empty when ``m`` is 0 or ``m == n``."""
        n = self._size if n is None else _check_size("n", n, 0, self._size)
        _check_size("m", m, 0, n)
        if m == 0 or m == n:
            return []
        proof: list[bytes] = []
        lo, hi, complete = 0, n, True
        while m != hi:
            k = _split(hi - lo)
            if m - lo <= k:
                proof.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree(lo, lo + k))
                lo += k
                complete = False
        if not complete:
            proof.append(self._subtree(lo, hi))
        proof.reverse()
        return proof

    def _subtree(self, lo: int, hi: int) -> bytes:
        """The hash of leaves ``lo..hi-1``, a subtree of the RFC 6962 shape (lo is a multiple
        of the largest power of two below ``hi - lo``, or the range is complete)."""
        size = hi - lo
        if size & (size - 1) == 0:  # complete: stored
            level = size.bit_length() - 1
            at = 32 * (lo >> level)
            return bytes(self._levels[level][at:at + 32])
        k = _split(size)
        return node_hash(self._subtree(lo, lo + k), self._subtree(lo + k, hi))


def _check_hashes(name: str, hashes: Sequence[Any]) -> None:
    """Each of `hashes` must be 32 bytes (a SHA-256 digest)."""
    if isinstance(hashes, (bytes, str)):
        raise TypeError(f"{name} must be a list of 32-byte hashes, got {type(hashes).__name__}")
    for k, h in enumerate(hashes):
        if not isinstance(h, (bytes, bytearray)) or len(h) != 32:
            raise ValueError(f"{name}[{k}] must be 32 bytes (a SHA-256 digest), got "
                             f"{h!r:.40}")


def verify_inclusion(event: Event | bytes, i: int, n: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """True when `proof` shows `event` is entry `i` of the log of size `n` whose root is
    `root` (RFC 9162 section 2.1.3.2). A wrong event, index, size or proof gives False; a
    proof or root that is not made of 32-byte hashes raises `ValueError`."""
    _check_size("n", n, 1, 2**63)
    _check_size("i", i, 0, n - 1)
    _check_hashes("proof", proof)
    _check_hashes("root", [root])
    fn, sn = i, n - 1
    r = leaf_hash(_leaf_input(event))
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn & 1 == 0 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when `proof` shows the log of size `n` with `root_n` extends the log of size `m`
    with `root_m` (RFC 9162 section 2.1.4.2)."""
    _check_size("n", n, 0, 2**63)
    _check_size("m", m, 0, n)
    _check_hashes("proof", proof)
    _check_hashes("root", [root_m, root_n])
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    path = list(proof)
    if m & (m - 1) == 0:  # m is a complete subtree: its root is the proof's implicit start
        path.insert(0, root_m)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn & 1 == 0 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root_m and sr == root_n
