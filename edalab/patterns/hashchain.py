"""A plain hash chain over events: the baseline a Merkle log is measured against.

Link ``i`` is ``SHA-256(link[i-1] || SHA-256(event_i JSON))``, starting from 32 zero bytes.
The head commits to every event, but proving that event ``i`` is in a chain of ``n`` takes
the ``n - i`` later leaf hashes, and checking it rehashes them all: linear where a Merkle
proof is logarithmic.

>>> from edalab import Event
>>> events = [Event(type="t", source="/s", id=str(i)) for i in range(4)]
>>> chain = HashChain(events)
>>> proof = chain.inclusion_proof(1)
>>> len(proof), verify_chain_inclusion(events[1], 1, proof, chain.head)
(3, True)
>>> verify_chain_inclusion(events[0], 1, proof, chain.head)
False
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

from edalab.events import Event

__all__ = ["HashChain", "verify_chain_inclusion"]

GENESIS = bytes(32)


def _digest(event: Event | bytes) -> bytes:
    data = event if isinstance(event, bytes) else event.to_json().encode()
    return sha256(data).digest()


class HashChain:
    """An append-only hash chain of events (keeps each link and each event's digest)."""

    def __init__(self, events: Iterable[Event | bytes] = ()) -> None:
        self._digests: list[bytes] = []
        self._links: list[bytes] = []
        for e in events:
            self.append(e)

    def append(self, event: Event | bytes) -> int:
        """Chain `event`; returns its index."""
        d = _digest(event)
        self._digests.append(d)
        self._links.append(sha256(self.head + d).digest())
        return len(self._links) - 1

    @property
    def head(self) -> bytes:
        """The last link (32 zero bytes for an empty chain)."""
        return self._links[-1] if self._links else GENESIS

    def __len__(self) -> int:
        return len(self._links)

    def inclusion_proof(self, i: int) -> list[bytes]:
        """What proves event `i` against the head: the link before it, then the digests of
        every later event."""
        if not 0 <= i < len(self._links):
            raise ValueError(f"i must be in [0, {len(self._links) - 1}], got {i}")
        before = self._links[i - 1] if i else GENESIS
        return [before, *self._digests[i + 1:]]


def verify_chain_inclusion(event: Event | bytes, i: int, proof: Sequence[bytes],
                           head: bytes) -> bool:
    """True when `proof` (from `HashChain.inclusion_proof`) leads from `event` at `i` to
    `head`: one hash per later event."""
    if not proof:
        return False
    link = sha256(proof[0] + _digest(event)).digest()
    for d in proof[1:]:
        link = sha256(link + d).digest()
    return link == head
