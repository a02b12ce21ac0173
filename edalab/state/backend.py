"""What a state backend stores: each partition's state as of its last checkpoint, fenced by
an epoch so that a member which lost a partition cannot overwrite its new owner's state.

A backend is a byte store. Values arrive serialised (`edalab.state.codec`); a checkpoint
is the values that changed since the previous one (None: deleted) and the partition's next
offset to handle, committed together, atomically: a restore gives the state as of offset
k and consumption goes on from k.

`claim` is how a member takes a partition over: it reads the last checkpoint and raises the
partition's epoch. From then on a `save` with an older epoch (a member that was paused past
its lease, a zombie) raises `FencedError` and writes nothing.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from edalab.errors import EdalabError

__all__ = ["Checkpoint", "FencedError", "StateBackend"]


class FencedError(EdalabError, RuntimeError):
    """A checkpoint by a member that no longer owns the partition: another claimed it."""


class Checkpoint(NamedTuple):
    """A partition's last checkpoint, as a claim or a load found it.

    `values` maps each key to its serialised value; `offset` is the next offset to handle
    (0 when nothing was ever checkpointed); `epoch` is the claimant's, to pass to `save`.
    """

    values: dict[str, bytes]
    offset: int
    epoch: int


@runtime_checkable
class StateBackend(Protocol):
    """Where `edalab.state` keeps checkpoints: `MemoryState`, `SQLiteState`, `NatsState`."""

    name: str

    def claim(self, store: str, partition: int) -> Checkpoint:
        """Take the partition of `store` over: its last checkpoint and a new epoch, greater
        than any before (1 for the first claim ever); saves with an older epoch fail from
        now on."""

    def load(self, store: str, partition: int) -> Checkpoint:
        """The partition's last checkpoint, read without claiming it (its current epoch)."""

    def save(self, store: str, partition: int, epoch: int, offset: int,
             changes: dict[str, bytes | None]) -> int:
        """Commit `changes` (key -> serialised value, None where the key was deleted) and
        `offset` together; `FencedError` if the partition was claimed since `epoch`. The
        bytes written."""

    def size(self, store: str) -> int:
        """The bytes the store's values take now, over all partitions."""

    def close(self) -> None:
        """Release what the backend holds (files, connections)."""
