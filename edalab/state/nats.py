"""`NatsState`: checkpoints on the NATS server, so state survives a worker's death and moves
to the worker that takes the partition over.

Layout: one JetStream stream (``EDALAB_STATE``, file storage) with one subject per store and
partition, ``<stream>.<store token>.<partition>`` (`store_token`). Each checkpoint is one
message: headers carry its kind, epoch and offset, the body the changed values (a pickled
dict, like the values themselves: edalab's own stream only, see `edalab.state.codec`). A
checkpoint larger than the server's max payload is split into parts, and a restore applies
it only when all its parts are there.

Fencing is the server's optimistic concurrency: every message is published with the header
``Nats-Expected-Last-Subject-Sequence``. A `claim` reads the subject in order, folds it into
the state, and publishes an epoch marker expecting the last sequence it read (another
member's write in between: it reads again). A `save` expects the sequence of this member's
own last write, so after anyone else's claim the server refuses it: `FencedError`. A save
that fails otherwise (`BrokerError`: the server is away) may still be written when the client
reconnects, as any write whose answer was lost; either way a restore finds a complete
checkpoint, and the member's next save goes on from whichever is there.

Compaction: a claim that folded more than `compact_after` messages writes the whole state
as one snapshot checkpoint and purges the subject's older messages; so does the owner's save
once the subject holds more than that, so neither the stream nor a takeover's read grows
with the time a partition stays with one member.
"""

from __future__ import annotations

import contextlib
import pickle
import re
import threading

from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from edalab.brokers.base import BrokerError
from edalab.brokers.loop_thread import LoopThread
from edalab.brokers.nats.broker import NatsBroker
from edalab.brokers.nats.codec import ack_tokens
from edalab.brokers.nats.connection import connect, connect_error
from edalab.errors import StoreClosedError
from edalab.state.backend import Checkpoint, FencedError

__all__ = ["NatsState", "store_token"]

_EXPECTED = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST = 10071  # JetStream's error code: the subject's last sequence is another
_OVERLAP = 10065  # JetStream's error code: the subjects belong to another stream
_KIND, _EPOCH, _OFFSET, _PART = "Edalab-Kind", "Edalab-Epoch", "Edalab-Offset", "Edalab-Part"
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
_PLAIN = re.compile(r"[A-Za-z0-9_-]")
_HEADROOM = 1024  # bytes of a message left for its headers
_CLAIM_ATTEMPTS = 20


def store_token(store: str) -> str:
    """`store` as one subject token: letters, digits, ``-`` and ``_`` stay, a dot becomes
    ``=``, any other character ``~`` and the hex of its UTF-8 bytes (so distinct names get
    distinct tokens).

    >>> store_token("payments.fraud"), store_token("a b"), store_token("ü")
    ('payments=fraud', 'a~20b', '~c3~bc')
    >>> store_token("")
    '~'
    """
    if not isinstance(store, str):
        raise TypeError(f"store name must be a str, got {type(store).__name__}")
    if not store:
        return "~"
    out = []
    for ch in store:
        if _PLAIN.match(ch):
            out.append(ch)
        elif ch == ".":
            out.append("=")
        else:
            out.append("".join(f"~{b:02x}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)


class _Fold:
    """A subject's messages folded, in order, into the partition's last complete checkpoint
    and the highest epoch any message carries."""

    __slots__ = ("values", "offset", "epoch", "count", "parts")

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.offset = 0
        self.epoch = 0
        self.count = 0
        self.parts: list[bytes] = []

    def add(self, headers: dict[str, str], data: bytes) -> None:
        kind = headers.get(_KIND)
        if kind is None:  # not a checkpoint: published by hand into the state's stream
            return
        self.count += 1
        self.epoch = max(self.epoch, int(headers[_EPOCH]))
        if kind == "marker":
            self.parts = []
            return
        part, total = map(int, headers[_PART].split("/"))
        if part == 1:
            self.parts = []
        elif len(self.parts) != part - 1:  # the rest of a checkpoint whose start is gone
            self.parts = []
            return
        self.parts.append(data)
        if part < total:
            return
        body = self.parts[0] if total == 1 else b"".join(self.parts)
        self.parts = []
        changes = pickle.loads(body)  # noqa: S301  # edalab's own stream: see the module
        if kind == "snapshot":
            self.values = changes
        else:
            values = self.values
            for key, value in changes.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
        self.offset = int(headers[_OFFSET])


class NatsState:
    """Checkpoints in a JetStream stream, fenced by the server.

    Parameters
    ----------
    broker_or_url
        A `NatsBroker` (its connection and loop are reused) or a server URL (a connection
        of its own, closed by `close`).
    stream
        The stream's name; its subjects are ``<stream>.<store token>.<partition>``.
    compact_after
        When a partition's subject holds more messages than this, the next claim or save
        rewrites it as one snapshot and purges the older messages.
    replicas
        Stream replicas (1 on a single server).
    """

    name = "nats"

    def __init__(self, broker_or_url: NatsBroker | str = "nats://127.0.0.1:4222",
                 stream: str = "EDALAB_STATE", *, compact_after: int = 100, replicas: int = 1,
                 connect_timeout: float = 5.0):
        if not isinstance(stream, str) or not _STREAM_NAME.match(stream):
            raise ValueError(f"stream name {stream!r}: use letters, digits, '-' and '_'")
        if not isinstance(compact_after, int) or compact_after < 1:
            raise ValueError(f"compact_after must be a whole number >= 1, got {compact_after!r}")
        self.stream = stream
        self.compact_after = compact_after
        self._heads: dict[tuple[str, int], tuple[int, int]] = {}  # -> (epoch, last seq)
        self._since: dict[tuple[str, int], int] = {}  # -> messages since the last snapshot
        self._lock = threading.Lock()
        self._closed = False
        self._broker: NatsBroker | None = None
        self._io: LoopThread | None = None
        if isinstance(broker_or_url, NatsBroker):
            self._broker = broker_or_url
            self.url = broker_or_url.url
            self._nc = broker_or_url._nc
        elif isinstance(broker_or_url, str):
            self.url = broker_or_url
            self._io = LoopThread("edalab-state-io")
            try:
                self._nc = self._io.run(connect(broker_or_url, {
                    "connect_timeout": connect_timeout, "max_reconnect_attempts": 120,
                    "reconnect_time_wait": 0.25}))
            except Exception as exc:
                self._io.close()
                raise ConnectionError(connect_error(broker_or_url, exc)) from None
        else:
            raise TypeError(f"NatsState needs a NatsBroker or a server URL, got "
                            f"{type(broker_or_url).__name__}")
        self._js = self._nc.jetstream()
        self._run(self._ensure_stream(replicas))

    def __repr__(self) -> str:
        return f"NatsState({self.url!r}, stream={self.stream!r})"

    def _run(self, coro, timeout: float | None = 120.0):
        if self._closed:
            coro.close()
            raise StoreClosedError(repr(self))
        try:
            if self._broker is not None:
                return self._broker._run(coro, timeout)
            assert self._io is not None
            return self._io.run(coro, timeout)
        except NatsError as exc:  # the server's or the connection's: say which state
            raise BrokerError(f"{self!r}: {exc} (is the server up?)") from exc

    async def _ensure_stream(self, replicas: int) -> None:
        try:
            info = await self._js.stream_info(self.stream)
        except NotFoundError:
            try:
                await self._js.add_stream(api.StreamConfig(
                    name=self.stream, subjects=[f"{self.stream}.>"], num_replicas=replicas,
                    storage=api.StorageType.FILE, metadata={"edalab": "state"}))
            except APIError as exc:
                if exc.err_code != _OVERLAP:
                    raise
                raise ValueError(f"NatsState: subjects {self.stream}.> on {self.url} belong "
                                 "to another stream (a topic named like the state stream?); "
                                 "pass another stream name") from None
            return
        if (info.config.metadata or {}).get("edalab") != "state":
            raise ValueError(f"NatsState: stream {self.stream!r} on {self.url} is not an "
                             "edalab state stream; pass another stream name")

    def _subject(self, store: str, partition: int) -> str:
        if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
            raise ValueError(f"partition must be a whole number >= 0, got {partition!r}")
        return f"{self.stream}.{store_token(store)}.{partition}"

    # -- the protocol ----------------------------------------------------------------------

    def claim(self, store: str, partition: int) -> Checkpoint:
        subject = self._subject(store, partition)
        with self._lock:
            return self._run(self._claim(subject, (store, partition)))

    def load(self, store: str, partition: int) -> Checkpoint:
        subject = self._subject(store, partition)
        fold, _ = self._run(self._read(subject))
        return Checkpoint(fold.values, fold.offset, fold.epoch)

    def save(self, store: str, partition: int, epoch: int, offset: int,
             changes: dict[str, bytes | None]) -> int:
        subject = self._subject(store, partition)
        body = pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._run(self._save(subject, (store, partition), epoch, offset, body))
        return sum(len(k) + len(v) for k, v in changes.items() if v is not None)

    def size(self, store: str) -> int:
        async def total() -> int:
            info = await self._js.stream_info(
                self.stream, subjects_filter=f"{self.stream}.{store_token(store)}.*")
            out = 0
            for subject in info.state.subjects or {}:
                fold, _ = await self._read(subject)
                out += sum(len(k) + len(v) for k, v in fold.values.items())
            return out
        return self._run(total())

    def close(self) -> None:
        """Close the connection this backend opened (not a broker's); a second call does
        nothing, later calls raise `StoreClosedError`."""
        if self._closed:
            return
        if self._io is not None:
            with contextlib.suppress(Exception):
                self._io.run(self._nc.drain(), timeout=10)
            self._io.close()
        self._closed = True

    # -- on the loop -----------------------------------------------------------------------

    async def _read(self, subject: str) -> tuple[_Fold, int]:
        """The subject folded, and the sequence of its last message (0: none)."""
        fold = _Fold()
        try:
            last = (await self._js.get_last_msg(self.stream, subject)).seq
        except NotFoundError:
            return fold, 0
        sub = await self._js.pull_subscribe(
            subject, stream=self.stream, config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0))
        try:
            seq = 0
            while seq < last:
                for msg in await sub.fetch(256, timeout=10.0):
                    seq = ack_tokens(msg)[1]
                    fold.add(msg.headers or {}, msg.data)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return fold, last

    async def _claim(self, subject: str, key: tuple[str, int]) -> Checkpoint:
        for _ in range(_CLAIM_ATTEMPTS):
            fold, last = await self._read(subject)
            epoch = fold.epoch + 1
            try:
                await self._mark(subject, key, fold, epoch, last)
            except FencedError:  # another member wrote since the read: read again
                continue
            return Checkpoint(fold.values, fold.offset, epoch)
        raise FencedError(f"state {key[0]!r} partition {key[1]}: no claim got through in "
                          f"{_CLAIM_ATTEMPTS} attempts (other members keep writing to it)")

    async def _mark(self, subject: str, key: tuple[str, int], fold: _Fold, epoch: int,
                    last: int) -> None:
        """Write `epoch` after sequence `last`: as a snapshot of `fold` that lets the older
        messages go, when it folded more than `compact_after`; else as a marker."""
        if fold.count <= self.compact_after:
            await self._publish(subject, key, "marker", epoch, fold.offset, b"", last)
            self._since[key] = fold.count
            return
        body = pickle.dumps(fold.values, protocol=pickle.HIGHEST_PROTOCOL)
        first = await self._publish(subject, key, "snapshot", epoch, fold.offset, body, last)
        self._since[key] = 0
        with contextlib.suppress(NatsError):  # the snapshot holds; the next one purges
            await self._js.purge_stream(self.stream, seq=first, subject=subject)

    async def _save(self, subject: str, key: tuple[str, int], epoch: int, offset: int,
                    body: bytes) -> None:
        for _ in range(_CLAIM_ATTEMPTS):
            known = self._heads.get(key)
            read = known is None or known[0] != epoch
            if read:  # not claimed here, or an answer was lost: the server's state decides
                fold, last = await self._read(subject)
                if fold.epoch != epoch:
                    raise FencedError(f"state {key[0]!r} partition {key[1]}: claimed by "
                                      f"epoch {fold.epoch} since this member's epoch {epoch}")
                self._since[key] = fold.count
            else:
                last = known[1]  # type: ignore[index]  # read is False: known is set
            try:
                await self._publish(subject, key, "changes", epoch, offset, body, last)
                break
            except FencedError:
                if not read:
                    raise
                # Between the read and the publish, a save of ours whose answer was lost
                # landed (the client sent it again on reconnecting): read again.
        else:
            raise FencedError(f"state {key[0]!r} partition {key[1]}: the subject kept moving "
                              f"under this member's epoch {epoch} ({_CLAIM_ATTEMPTS} attempts)")
        since = self._since[key] = self._since.get(key, 0) + 1
        if since > self.compact_after:  # an owner that is never taken over compacts too
            with contextlib.suppress(FencedError, NatsError):  # the save itself holds
                fold, last = await self._read(subject)
                if fold.epoch == epoch:
                    await self._mark(subject, key, fold, epoch, last)

    async def _publish(self, subject: str, key: tuple[str, int], kind: str, epoch: int,
                       offset: int, body: bytes, expected: int) -> int:
        """Publish a checkpoint in parts that fit the server's max payload, each expecting
        the one before; the sequence of the first part. Records this member's last write."""
        size = self._nc.max_payload - _HEADROOM
        chunks = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        first = 0
        for i, chunk in enumerate(chunks, 1):
            headers = {_EXPECTED: str(expected), _KIND: kind, _EPOCH: str(epoch),
                       _OFFSET: str(offset), _PART: f"{i}/{len(chunks)}"}
            try:
                ack = await self._js.publish(subject, chunk, stream=self.stream,
                                             headers=headers)
            except Exception as exc:
                if not isinstance(exc, APIError) or exc.err_code != _WRONG_LAST:
                    # The answer is lost, not the write (the client sends it again on
                    # reconnecting): the next save asks the server where the subject is.
                    self._heads.pop(key, None)
                    raise
                raise FencedError(f"state {key[0]!r} partition {key[1]}: another member "
                                  f"wrote since this member's epoch {epoch} (the server: "
                                  f"{exc.description})") from exc
            expected = ack.seq
            first = first or ack.seq
            self._heads[key] = (epoch, ack.seq)
        return first
