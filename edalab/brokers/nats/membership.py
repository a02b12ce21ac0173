"""Consumer groups on NATS: the lease protocol that shares a topic's partitions.

JetStream has no group coordinator, so group membership and partition ownership live in a
key-value bucket (`LEASES`): each member heartbeats a member key, and owns a partition by
holding its lease key (compare-and-set on the revision). Keys not refreshed within `lease_ttl`
expire, so a dead worker's partitions are taken over. Every member computes the same sticky
assignment (`edalab.brokers.assignment`) from the live members and current owners. A member
that lets a partition go hands back what it holds (NAK), waits for the server to confirm it,
and writes the delivery counts of what it handed back into the lease key, so the next owner
gets those records first and keeps counting attempts.

Keys: ``<stream>.<group>.m.<member>`` (a member) and ``<stream>.<group>.p.<partition>`` (the
partition's owner; ``"=" + JSON`` of the counts when it was handed back cleanly; empty when
the NAKs went unconfirmed, and the next owner starts again from the first un-acked record).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from nats.js import api
from nats.js.errors import KeyDeletedError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from edalab.brokers.assignment import assign
from edalab.brokers.base import BrokerError, Position
from edalab.brokers.nats.codec import ack_tokens, durable_name

if TYPE_CHECKING:
    from edalab.brokers.nats.broker import NatsBroker
    from edalab.brokers.nats.puller import Puller

__all__ = ["ACK_CONFIRM_S", "LEASES", "Membership", "lease_bucket"]

LEASES = "edalab-leases"
#: Seconds a member waits for the server to confirm it processed the member's acks and NAKs
#: (before `lag` reads the consumer, and before handing a partition back).
ACK_CONFIRM_S = 2.0
_clock = time.perf_counter


async def lease_bucket(js, lease_ttl: float, replicas: int = 1) -> KeyValue:
    """The server's lease bucket, created with `lease_ttl` and `replicas` if missing, and
    given `replicas` copies if it has fewer (the first broker on a cluster may have wanted
    one); `BrokerError` if it exists with another TTL (every member of a group must expire
    leases alike)."""
    try:
        kv = await js.key_value(LEASES)
    except NotFoundError:  # not a timeout: creating it again would clash with its config
        kv = await js.create_key_value(
            api.KeyValueConfig(bucket=LEASES, history=1, ttl=lease_ttl,
                               storage=api.StorageType.FILE, replicas=replicas))
    status = await kv.status()
    config = status.stream_info.config
    if (config.num_replicas or 1) < replicas:
        config.num_replicas = replicas
        await js.update_stream(config)
    ttl = status.ttl
    if ttl is not None and abs(ttl - lease_ttl) > 1e-3:
        raise BrokerError(
            f"the server's lease bucket expires leases after {ttl:g} s but this broker "
            f"has lease_ttl={lease_ttl:g}; every member must use the same value "
            f"(NatsBroker(..., lease_ttl={ttl:g}))")
    return kv


async def _entries(js, kv, pattern: str) -> dict[str, tuple[bytes, int]]:
    """Live keys matching `pattern`, with their values and revisions. Read from the
    bucket's stream (its subjects, then each key's last value), not with `kv.watch`: a
    watch makes a consumer on the bucket per call, and with rounds every few seconds in
    every member they pile up to the server's consumer limit (err 10026) after crashes."""
    prefix = f"$KV.{LEASES}."
    info = await js.stream_info(f"KV_{LEASES}", subjects_filter=prefix + pattern)
    out: dict[str, tuple[bytes, int]] = {}
    for subject in info.state.subjects or {}:
        key = subject[len(prefix):]
        with contextlib.suppress(KeyNotFoundError, KeyDeletedError):  # deleted, expired
            entry = await kv.get(key)
            out[key] = (entry.value or b"", entry.revision)
    return out


class Membership:
    """The lease protocol of one group member, mixed into `NatsConsumer`: joining, rounds
    (heartbeat, assignment, acquire and release), take-over, hand-back and leaving.

    The consumer provides the partitions' durables and pullers (`_ensure_durable`, `_pull`)
    and the state below. Rounds (the heartbeat's, a poll's) and leaving hold `_lock`: one
    at a time.
    """

    _broker: NatsBroker
    _js: Any
    _stream: str
    group: str
    topic: str
    member: str
    _n: int
    _owned: dict[int, Puller]
    _revisions: dict[int, int]
    _buffers: dict[int, deque]
    _inflight: dict[tuple[int, int], Any]
    _carried: dict[int, dict[int, int]]
    _naked: dict[int, dict[int, int]]
    _last_round: float
    _expires: float
    _heartbeat: asyncio.Task | None
    _closed: bool
    _lock: asyncio.Lock
    _unconfirmed: dict[int, Any]

    async def _ensure_durable(self, p: int, position: Position | None = None) -> None:
        raise NotImplementedError

    async def _pull(self, p: int) -> None:
        raise NotImplementedError

    def _key(self, kind: str, name: object) -> str:
        return f"{self._stream}.{self.group}.{kind}.{name}"

    async def _join(self) -> None:
        self._n = await self._broker._require(self.topic)
        # retried: a new replicated asset elects its leader
        for p in range(self._n):
            await self._broker._retrying(f"join group {self.group!r}",
                                         functools.partial(self._ensure_durable, p))
        await self._broker._retrying(f"join group {self.group!r}", self._round)
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        period = self._broker.lease_ttl / 3
        wait = period
        while not self._closed:
            await asyncio.sleep(wait)
            if self._broker._nc.is_connected:  # else each request would wait its timeout
                with contextlib.suppress(Exception):
                    await self._round(if_due=True)
            # Next when a period has passed since the last round, this task's or a poll's
            # (a failed round is tried again sooner).
            wait = max(self._last_round + period - _clock(), period / 4)

    async def _round(self, if_due: bool = False) -> None:
        """One membership round: heartbeat, read members and leases, release and acquire.
        With `if_due`, none if another finished less than a renewal period ago (the
        heartbeat's and a poll's would otherwise run back to back, the second for nothing)."""
        async with self._lock:
            if self._closed or (if_due and not self._due()):
                return
            began = _clock()
            kv = await self._broker._lease_bucket()
            await kv.put(self._key("m", self.member), b"1")
            entries = await _entries(self._js, kv, f"{self._stream}.{self.group}.>")
            prefix = self._key("m", "")
            members = sorted({key[len(prefix):] for key in entries if key.startswith(prefix)}
                             | {self.member})
            # A lease is (owner, revision). A partition handed back cleanly has owner "" and
            # the delivery counts of what its last owner handed back, as "=" + JSON.
            leases: dict[int, tuple[str, int]] = {}
            handed: dict[int, dict[int, int]] = {}
            for p in range(self._n):
                value = entries.get(self._key("p", p))
                if value is not None:
                    owner = value[0].decode()
                    if owner.startswith("="):
                        handed[p] = {int(k): v for k, v in json.loads(owner[1:]).items()}
                        owner = ""
                    leases[p] = (owner, value[1])
            live = {p: owner for p, (owner, _) in leases.items() if owner in members}
            mine = set(assign(self._n, members, live).get(self.member, []))
            for p in sorted(set(self._owned) - mine):
                if leases.get(p, ("",))[0] == self.member:
                    await self._release(kv, p)
                else:  # our lease expired and another member took p over
                    await self._drop(p, hand_back=False)
            for p in sorted(mine):
                owner, revision = leases.get(p, (None, 0))  # type: ignore[assignment]  # None: no lease
                if owner and owner != self.member and owner in members:
                    if p in self._owned:  # taken over after our lease expired
                        await self._drop(p, hand_back=False)
                    continue  # a live member still holds it; it lets go on its round
                try:
                    if owner is None:  # never leased, or the lease expired with its holder
                        self._revisions[p] = await kv.create(self._key("p", p),
                                                             self.member.encode())
                    else:
                        self._revisions[p] = await kv.update(
                            self._key("p", p), self.member.encode(), last=revision)
                except Exception:  # another member won the compare-and-set
                    if p in self._owned:
                        await self._drop(p, hand_back=False)
                    continue
                if p not in self._owned:
                    await self._take_over(p, handed.get(p))
                    await self._pull(p)
            self._last_round = _clock()
            self._expires = began + self._broker.lease_ttl  # all refreshed after `began`

    def _lease_left(self) -> float:
        """Seconds a pull request may still last: until a quarter of `lease_ttl` before the
        earliest our leases can expire."""
        return self._expires - self._broker.lease_ttl / 4 - _clock()

    def _due(self) -> bool:
        """Whether a renewal period (a third of `lease_ttl`) has passed since the last round."""
        return _clock() - self._last_round > self._broker.lease_ttl / 3

    async def _round_if_due(self) -> None:
        if self._due():  # checked again under the lock: a round may be running
            await self._round(if_due=True)

    async def _take_over(self, p: int, handed: dict[int, int] | None) -> None:
        """Start owning p. Deliveries still pending that its previous owner did not hand back
        (lost in flight, or held by a member that died) would come again only after
        `ack_wait`, behind newer records, breaking per-key order; a pull request still open
        after its owner's lease expired (`handed` is None) would split the partition between
        two readers. Then restart the group's consumer at its first un-acked record, as a
        Kafka consumer restarts at the committed offset (deleting it ends the open requests);
        delivery counts restart, except those the previous owner handed back."""
        durable = durable_name(self.group, p)
        info = await self._js.consumer_info(self._stream, durable)
        self._carried[p] = {}
        if info.num_ack_pending > len(handed or ()) or (handed is None and info.num_waiting):
            await self._js.delete_consumer(self._stream, durable)
            await self._ensure_durable(p, info.ack_floor.stream_seq + 1)
            self._carried[p] = dict(handed or {})

    async def _release(self, kv, p: int) -> None:
        """Hand p back: what we hold NAKed and its delivery counts in the lease key; or, if
        the server did not confirm the NAKs in time, an empty lease key, so the next owner
        restarts the group's consumer at its first un-acked record (see `_take_over`)."""
        counts = await self._drop(p)
        value = b"" if counts is None else b"=" + json.dumps(counts).encode()
        revision = self._revisions.pop(p, None)
        with contextlib.suppress(Exception):
            await kv.update(self._key("p", p), value, last=revision)

    async def _drop(self, p: int, hand_back: bool = True) -> dict[int, int] | None:
        """Stop reading p. With `hand_back`, NAK what we hold of it (redelivered at once) and
        return the delivery counts of what was handed back, by stream sequence; None if the
        server did not confirm the NAKs in time (see `_confirm_settled`). Without (our lease
        expired and another member took p over, restarting the group's consumer at its first
        un-acked record), forget it."""
        puller = self._owned.pop(p, None)  # polls skip p from now on
        if puller is not None:
            puller.closing = True  # no new requests (a poll suspended mid-loop may try)
            if hand_back:  # let the open one end: what it brings lands in the buffer
                await puller.settle()
        held = list(self._buffers.pop(p, ()))
        held += [self._inflight.pop(key) for key in [k for k in self._inflight if k[0] == p]]
        counts = self._naked.pop(p, {})
        carried = self._carried.pop(p, {})
        if not hand_back:
            held, counts = [], {}
        # The server redelivers NAKed messages in NAK order: hand back in log order.
        held.sort(key=lambda m: ack_tokens(m)[1])
        for msg in held:
            attempt, seq, _ = ack_tokens(msg)
            counts[seq] = attempt + carried.get(seq, 0)
        for msg in held[:-1]:  # the last goes as `_confirm_settled`'s request
            with contextlib.suppress(Exception):
                await msg.nak()
        last_ack = self._unconfirmed.pop(p, None)
        confirmed = not hand_back or await self._confirm_settled(held[-1] if held else None,
                                                                 last_ack)
        if puller is not None:
            await puller.stop()
        return counts if confirmed else None

    async def _confirm_settled(self, last_held: Any, last_ack: Any) -> bool:
        """NAK the last held message, or ack the last acked one again (harmless), as a request
        the server answers once it has processed it and, in order, every ack and NAK this
        member sent before it. The server queues acks apart from pull requests: unconfirmed,
        a NAK could land after the next owner's first pull, which would then take newer
        records first. True when answered within `ACK_CONFIRM_S` (or nothing to confirm);
        False at once while the connection is down (a request would wait its timeout)."""
        msg, payload = (last_held, b"-NAK") if last_held is not None else (last_ack, b"")
        if msg is None:
            return True
        if not self._broker._nc.is_connected:
            return False
        try:
            await self._broker._nc.request(msg.reply, payload, timeout=ACK_CONFIRM_S)
        except Exception:
            return False
        return True

    async def _leave(self) -> None:
        if self._heartbeat is not None:  # first: a round it runs may wait on a lost server
            self._heartbeat.cancel()
        async with self._lock:
            kv = await self._broker._lease_bucket()
            for p in sorted(self._owned):
                await self._release(kv, p)
            with contextlib.suppress(Exception):
                await kv.delete(self._key("m", self.member))
            self._closed = True
