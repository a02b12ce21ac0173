"""Keyed, partition-scoped state for handlers, checkpointed with the offsets it is as of.

``@app.handler("payments", state=True)`` gives the handler a second argument, the state of
the event's key (`KeyState`: get, set, delete). The state of each partition is checkpointed
with its offset every `State.every` events; a member that takes a partition over (a
rebalance, a worker's death) restores it from the last checkpoint before it handles any of
the partition's events and replays the events since, so the state is exactly as one process
would have it. Outputs the replay emits again carry the same ids, so an idempotent consumer
sees each once.

Backends: `MemoryState` (the embedded default: one process), `SQLiteState` (a file: a
restart), `NatsState` (a stream on the NATS server: a worker's death).
"""

from edalab.state.backend import Checkpoint, FencedError, StateBackend
from edalab.state.keyed import KeyState, PartitionState
from edalab.state.memory import MemoryState
from edalab.state.options import State
from edalab.state.sqlite import SQLiteState

__all__ = ["Checkpoint", "FencedError", "KeyState", "MemoryState", "NatsState",
           "PartitionState", "SQLiteState", "State", "StateBackend"]


def __getattr__(name: str):
    # NatsState pulls in the NATS client: import it only when asked for.
    if name == "NatsState":
        from edalab.state.nats import NatsState

        return NatsState
    raise AttributeError(f"module 'edalab.state' has no attribute {name!r}")
