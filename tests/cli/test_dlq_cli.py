"""`edalab dlq list|replay`: dead letters listed by error class and redriven with their original
ids, then handled by the group that dead-lettered them, on both brokers (NATS: a real server,
the command in its own process); every mistake is one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edalab import Event
from edalab.cli.dlq import main

AMOUNTS = [5, -1, 0, 7, -2, 0, 9]  # negatives and zeros fail while the handler is broken


def edalab(broker, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``edalab ARGS`` against `broker`: in a process of its own on NATS, in this one
    (with the broker object) on the embedded broker."""
    if hasattr(broker, "url"):
        done = subprocess.run([sys.executable, "-m", "edalab.cli", *args, "--broker",
                               broker.url], capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr
    code = main(list(args[1:]), broker=broker)
    out, err = capsys.readouterr()
    return code, out, err


def handle(consumer, n: int, broken: bool) -> list[str]:
    """Poll until `n` records came; ack the good ones, nack the bad ones (dead-lettered at
    once: max_attempts=1); returns the ids handled well."""
    handled, seen = [], 0
    deadline = time.monotonic() + 30
    while seen < n and time.monotonic() < deadline:
        for record in consumer.poll(max_events=100, timeout=0.5):
            seen += 1
            amount = record.event.data
            if broken and amount < 0:
                consumer.nack(record, ValueError(f"negative amount {amount}"))
            elif broken and amount == 0:
                consumer.nack(record, ZeroDivisionError("zero amount"))
            else:
                handled.append(record.event.id)
                consumer.ack([record])
    assert seen == n, f"{seen} of {n} records came"
    return handled


def test_dlq_replay_redrives_dead_letters_that_the_group_then_handles(broker, capsys):
    broker.create_topic("amounts", partitions=2)
    broker.publish_many("amounts", [Event("amount", "/doc", a, key=f"k{i}", id=f"a{i}")
                                    for i, a in enumerate(AMOUNTS)])
    consumer = broker.subscribe("amounts", group="check", max_attempts=1)
    assert sorted(handle(consumer, len(AMOUNTS), broken=True)) == ["a0", "a3", "a6"]

    code, out, err = edalab(broker, capsys, "dlq", "list", "amounts")
    assert (code, err) == (0, "")
    assert out.startswith("4 dead letters in amounts.dlq\n")
    classes = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
               if line.split()[:1] in (["ValueError"], ["ZeroDivisionError"])
               and line.split()[1].isdigit()}
    assert classes == {"ValueError": 2, "ZeroDivisionError": 2}
    code, out, _ = edalab(broker, capsys, "dlq", "list", "amounts", "--group", "other")
    assert (code, out) == (0, "0 dead letters of group 'other' in amounts.dlq\n")

    code, out, err = edalab(broker, capsys, "dlq", "replay", "amounts", "--where",
                            "error_class == 'ValueError'")
    assert (code, out, err) == (0, "redrove 2 dead letters of 'amounts' to the topic each "
                                   "failed on\n", "")
    assert sorted(handle(consumer, 2, broken=False)) == ["a1", "a4"]  # the original ids
    code, out, err = edalab(broker, capsys, "dlq", "replay", "amounts.dlq", "--to",
                            "amounts")
    assert (code, out) == (0, "redrove 4 dead letters of 'amounts' to 'amounts'\n")
    assert sorted(handle(consumer, 4, broken=False)) == ["a1", "a2", "a4", "a5"]
    consumer.close()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edalab.cli", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, code, problem", [
    (["list", "amounts"], 2, "the embedded memory broker lives inside one Python process"),
    (["list", "amounts", "--broker", "memory"], 2, "give --broker nats://HOST:PORT"),
    (["list", "amounts", "--broker", "http://127.0.0.1:4222"], 2, "is not a NATS server URL"),
    (["replay", "amounts", "--group", "g", "--broker", "nats://127.0.0.1:4222"], 2,
     "--group is not an option of replay"),
    (["list", "amounts", "--to", "x", "--broker", "nats://127.0.0.1:4222"], 2,
     "--to is not an option of list"),
    (["purge", "amounts"], 2, "invalid choice: 'purge'"),
    (["list", "amounts", "--broker", "nats://127.0.0.1:1"], 1, "cannot connect to NATS"),
])
def test_dlq_mistakes_are_one_line_and_a_non_zero_exit(args, code, problem):
    done = run_cli("dlq", *args)
    assert done.returncode == code, done.stderr
    assert done.stderr.startswith("edalab dlq: error: ") and problem in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_dlq_replay_with_a_bad_where_or_unknown_topic_is_one_line(nats_broker):
    nats_broker.create_topic("amounts")
    nats_broker.publish("amounts.dlq", Event("amount", "/doc", -1, id="dead",
                                             extensions={"dlerror": "ValueError: x"}))
    for args, code, problem in [
        (["replay", "amounts", "--where", "bogus >"], 2, "must be a condition over the "
                                                         "dead-letter columns"),
        (["list", "nosuch"], 1, "unknown topic 'nosuch.dlq'"),
    ]:
        done = run_cli("dlq", *args, "--broker", nats_broker.url)
        assert done.returncode == code, done.stderr
        assert problem in done.stderr and done.stderr.count("\n") == 1
