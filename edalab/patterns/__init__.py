"""Event-driven patterns: event store and its outbox relay, aggregates, CQRS projections,
declared participants, generic sagas, the event mesh, the verifiable (Merkle) event log.

Each module is usable alone. Names load on first use, so ``import edalab.patterns`` stays
cheap (and does not start or import a broker client).
"""

from __future__ import annotations

_MODULES = {
    "edalab.patterns.eventstore": ["CatchUpSubscription", "ConcurrencyError", "EventStore",
                                   "MemoryEventStore", "OutboxEntry", "Snapshot",
                                   "SqliteEventStore", "StoredEvent", "Upcasters"],
    "edalab.patterns.outbox": ["OutboxRelay"],
    "edalab.patterns.aggregate": ["Aggregate", "CommandError", "Repository", "applies"],
    "edalab.patterns.projection": ["FrameReadModel", "Lag", "Projection", "ReadModel",
                                   "SqliteReadModel"],
    "edalab.patterns.examples": ["CardAccount", "PatientEpisode", "card_upcasters"],
    "edalab.patterns.participant": ["Participant", "coupling"],
    "edalab.patterns.saga": ["CoordinatorCrashed", "Saga", "SagaCoordinator", "timer_ticks"],
    "edalab.patterns.mesh": ["EventMesh", "mesh_latency"],
    "edalab.patterns.merkle": ["LogIntegrityError", "MerkleLog", "verify_consistency",
                               "verify_inclusion"],
    "edalab.patterns.treehead": ["AuditError", "Auditor", "SignedTreeHead", "TreeHeadSigner"],
    "edalab.patterns.hashchain": ["HashChain", "verify_chain_inclusion"],
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edalab.patterns' has no attribute {name!r}")
