"""What only `NatsState` promises, on a real ``nats-server``: the state survives a new
connection and the SIGKILL of the process that wrote it, the server itself refuses a
zombie's save, claims compact a long history, and big checkpoints are split into parts that
a restore applies only when all are there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from nats.js.errors import APIError

from edalab import BrokerError
from edalab.brokers.nats.server import NatsServer
from edalab.errors import StoreClosedError
from edalab.state import Checkpoint, FencedError, NatsState


def messages_on(backend: NatsState, store: str, partition: int) -> int:
    """How many messages the subject of (store, partition) holds now."""
    subject = backend._subject(store, partition)

    async def count() -> int:
        info = await backend._js.stream_info(backend.stream, subjects_filter=subject)
        return (info.state.subjects or {}).get(subject, 0)
    return backend._run(count())


def writer(url: str, body: str) -> subprocess.Popen:
    """A Python process that opens `NatsState(url)` as ``backend`` and runs `body`."""
    code = f"from edalab.state import NatsState\nbackend = NatsState({url!r})\n{body}"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": os.getcwd()})


def test_state_survives_a_new_connection(nats_broker):
    first = NatsState(nats_broker)
    epoch = first.claim("s", 2).epoch
    first.save("s", 2, epoch, 9, {"a": b"1"})
    first.close()
    again = NatsState(nats_broker.url)
    assert again.claim("s", 2) == Checkpoint({"a": b"1"}, 9, 2)
    again.close()


def test_the_server_refuses_a_zombies_save_after_another_members_claim(nats_broker):
    zombie, owner = NatsState(nats_broker), NatsState(nats_broker.url)
    epoch = zombie.claim("s", 0).epoch
    zombie.save("s", 0, epoch, 1, {"a": b"1"})
    owner.claim("s", 0)
    with pytest.raises(FencedError, match="wrong last sequence") as caught:
        zombie.save("s", 0, epoch, 2, {"a": b"zombie"})
    assert isinstance(caught.value.__cause__, APIError)  # the server's answer, not a guess
    assert caught.value.__cause__.err_code == 10071
    assert owner.load("s", 0) == Checkpoint({"a": b"1"}, 1, 2)
    owner.close()


def test_concurrent_claims_each_get_their_own_epoch_and_only_the_last_may_save(nats_broker):
    members = [NatsState(nats_broker.url) for _ in range(4)]
    epochs: dict[int, int] = {}

    def claim(i: int) -> None:
        epochs[i] = members[i].claim("s", 0).epoch

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(epochs.values()) == [1, 2, 3, 4]
    for i, epoch in epochs.items():
        if epoch < 4:
            with pytest.raises(FencedError):
                members[i].save("s", 0, epoch, 1, {"a": b"old"})
    last = next(i for i, e in epochs.items() if e == 4)
    members[last].save("s", 0, 4, 1, {"a": b"new"})
    assert members[0].load("s", 0) == Checkpoint({"a": b"new"}, 1, 4)
    for m in members:
        m.close()


def test_a_checkpoint_is_split_into_parts_that_fit_the_max_payload(nats_broker):
    backend = NatsState(nats_broker)
    values = {f"k{i}": os.urandom(100) for i in range(25_000)}  # 2.6 MB, incompressible
    backend.save("s", 0, backend.claim("s", 0).epoch, 1, values)
    assert messages_on(backend, "s", 0) == 1 + 3  # the claim's marker, then three parts
    assert backend.load("s", 0).values == values


def test_a_kill_mid_checkpoint_leaves_the_last_complete_one(nats_broker):
    # The writer SIGKILLs itself once the second part of its second (3-part) checkpoint is
    # on the server: a restore must not apply those two parts.
    proc = writer(nats_broker.url, """
import os, signal
epoch = backend.claim("s", 0).epoch
backend.save("s", 0, epoch, 100, {f"k{i}": os.urandom(100) + b"1" for i in range(25_000)})
publish, acks = backend._js.publish, []
async def die_after_two_parts(*args, **kwargs):
    acks.append(await publish(*args, **kwargs))
    if len(acks) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return acks[-1]
backend._js.publish = die_after_two_parts
backend.save("s", 0, epoch, 200, {f"k{i}": os.urandom(100) + b"2" for i in range(25_000)})
print("not killed")
""")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    backend = NatsState(nats_broker)
    assert messages_on(backend, "s", 0) == 1 + 3 + 2
    snap = backend.claim("s", 0)
    assert (snap.offset, len(snap.values), {v[-1:] for v in snap.values.values()}) == \
        (100, 25_000, {b"1"})
    backend.save("s", 0, snap.epoch, 300, {"k0": b"3"})  # after the dangling parts
    assert backend.claim("s", 0).values["k0"] == b"3"


def test_a_writer_killed_at_any_moment_leaves_a_complete_checkpoint(nats_broker):
    proc = writer(nats_broker.url, """
epoch = backend.claim("s", 0).epoch
n = 0
while True:
    n += 1
    backend.save("s", 0, epoch, n, {f"k{i}": b"%09d" % n + bytes(91) for i in range(15_000)})
    print(n, flush=True)
""")
    assert proc.stdout is not None
    for _ in range(3):
        proc.stdout.readline()  # three checkpoints written: kill it in its fourth or later
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    backend = NatsState(nats_broker)
    snap = backend.claim("s", 0)
    assert snap.offset >= 3 and len(snap.values) == 15_000
    assert {v[:9] for v in snap.values.values()} == {b"%09d" % snap.offset}


def test_a_claim_compacts_a_long_history_into_one_snapshot(nats_broker):
    writer = NatsState(nats_broker)  # compacts after 100 messages: not in this test
    epoch = writer.claim("s", 0).epoch
    for offset in range(1, 11):
        writer.save("s", 0, epoch, offset, {f"k{offset % 3}": b"%d" % offset,
                                            "gone": None if offset == 10 else b"x"})
    assert messages_on(writer, "s", 0) == 11
    expected = {"k0": b"9", "k1": b"10", "k2": b"8"}
    claimer = NatsState(nats_broker.url, compact_after=5)
    assert claimer.claim("s", 0) == Checkpoint(expected, 10, 2)
    assert messages_on(writer, "s", 0) == 1  # the snapshot (and epoch marker) alone
    assert NatsState(nats_broker.url).claim("s", 0) == Checkpoint(expected, 10, 3)


def test_close_leaves_the_broker_open_and_later_calls_raise(nats_broker):
    backend = NatsState(nats_broker)
    backend.close()
    backend.close()
    with pytest.raises(StoreClosedError, match="NatsState.* is closed"):
        backend.claim("s", 0)
    nats_broker.create_topic("t")  # the broker's connection is still in use


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(ConnectionError, match="cannot connect to NATS at nats://127.0.0.1:1"):
        NatsState("nats://127.0.0.1:1", connect_timeout=1.0)


@pytest.mark.parametrize("stream", ["", "a.b", "a b", "a*"])
def test_a_stream_name_nats_refuses_is_a_value_error(stream):
    with pytest.raises(ValueError, match="stream name"):
        NatsState(None, stream)  # type: ignore[arg-type]  # checked before connecting


def test_a_stream_that_is_not_a_state_stream_is_refused(nats_broker):
    nats_broker.create_topic("EDALAB_STATE.x")  # its subjects overlap the state stream's
    with pytest.raises(ValueError, match=r"subjects EDALAB_STATE\.> .* belong to another"):
        NatsState(nats_broker)
    nats_broker.create_topic("orders")
    with pytest.raises(ValueError, match="stream 'edalab-orders' .* is not an edalab state"):
        NatsState(nats_broker, stream="edalab-orders")
    assert NatsState(nats_broker, stream="STATE2").claim("s", 0).epoch == 1


def test_state_survives_a_server_restart_and_a_dead_server_is_a_broker_error(tmp_path):
    server = NatsServer(store_dir=tmp_path / "js").start()
    backend = NatsState(server.url)
    epoch = backend.claim("s", 0).epoch
    backend.save("s", 0, epoch, 5, {"a": b"1"})
    server.stop(kill=True)
    with pytest.raises(BrokerError, match=r"NatsState\('nats://127.0.0.1:\d+'.*is the server up"):
        backend.save("s", 0, epoch, 6, {"a": b"2"})  # its answer is lost; it may be written
    server.start()
    deadline = time.monotonic() + 10
    while True:  # the client reconnects on its own; the owner is not fenced by the outage
        try:
            backend.save("s", 0, epoch, 7, {"b": b"3"})
            break
        except BrokerError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    snap = NatsState(server.url).claim("s", 0)
    assert (snap.offset, snap.values["b"], snap.values["a"] in (b"1", b"2")) == (7, b"3", True)
    backend.close()
    server.cleanup()


def test_a_message_that_is_no_checkpoint_is_passed_over(nats_broker):
    backend = NatsState(nats_broker)
    epoch = backend.claim("s", 0).epoch
    backend.save("s", 0, epoch, 1, {"a": b"1"})
    nats_broker._run(nats_broker._js.publish(backend._subject("s", 0), b"by hand"))
    assert backend.claim("s", 0) == Checkpoint({"a": b"1"}, 1, 2)


def test_an_owner_that_keeps_a_partition_compacts_it_as_it_saves(nats_broker):
    backend = NatsState(nats_broker, compact_after=5)
    epoch = backend.claim("s", 0).epoch
    model: dict[str, bytes] = {}
    most = 0
    for offset in range(1, 41):
        changes = {f"k{offset % 7}": b"%d" % offset, f"k{offset % 5}": None}
        backend.save("s", 0, epoch, offset, changes)
        model.update(changes)
        most = max(most, messages_on(backend, "s", 0))
    assert most <= 7  # at most compact_after + 1 saves after a snapshot, never all 40
    model = {k: v for k, v in model.items() if v is not None}
    assert NatsState(nats_broker.url).claim("s", 0) == Checkpoint(model, 40, epoch + 1)
