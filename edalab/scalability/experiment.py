"""One scalability experiment: a use case, a broker, a number of instances, a load; the
consumer group's lag sampled over time, and the lag-trend SLO's verdict.

Instances are where the work runs:

- ``memory``: each instance is an `App` of the use case serving in a thread of this process,
  all on one embedded `MemoryBroker`, members of one consumer group (Python runs one thread
  at a time, so this measures coordination, not parallel speed-up);
- ``nats``: each instance is an ``edalab worker`` process on a fresh ``nats-server``; the
  load generator and the lag sampling run in this process.

The load starts once every instance has joined (on NATS, once each worker says it serves and
`settle` seconds more have passed for the partition leases), so joining and rebalancing are
not measured as lag; the warm-up of the SLO leaves out the first seconds of load as well.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edalab.brokers.base import Broker
from edalab.brokers.memory import MemoryBroker
from edalab.runtime.app import App
from edalab.scalability import use_case
from edalab.scalability.load import LoadGenerator
from edalab.scalability.slo import LagTrendSLO
from edalab.streams.power_sensors import sensor_registry

__all__ = ["BROKERS", "ScalabilityRun", "run_experiment"]

BROKERS = ("memory", "nats")
#: The consumer group whose lag on ``input`` the SLO watches, per use case.
GROUPS = {"uc1": "uc1", "uc2": "uc2", "uc3": "uc3", "uc4": "uc4-route"}


@dataclass
class ScalabilityRun:
    """One experiment's outcome: the lag series (seconds from the start of the load) and
    the SLO's verdict on it."""

    uc: str
    broker: str
    instances: int
    load: int
    seconds: list[float] = field(repr=False)
    lag: list[int] = field(repr=False)
    slo: LagTrendSLO
    sent: int
    behind: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    repetition: int = 0
    slope: float = 0.0
    slo_met: bool = False

    def __post_init__(self) -> None:
        self.slope = self.slo.slope(self.seconds, self.lag)
        self.slo_met = self.slope < self.slo.threshold

    def row(self) -> dict[str, Any]:
        """The run as the report's JSON row."""
        return {"uc": self.uc, "broker": self.broker, "instances": self.instances,
                "load": self.load, "repetition": self.repetition,
                "slope": round(self.slope, 3), "slo_met": self.slo_met,
                "threshold": self.slo.threshold, "sent": self.sent,
                "generator_behind_s": round(self.behind, 3),
                "cpu_s": {k: round(v, 2) for k, v in self.cpu_s.items()}}


def run_experiment(uc: str, broker: str, instances: int, load: int, *, duration: float = 20.0,
                   slo: LagTrendSLO | None = None, partitions: int = 8, sample_every: float = 0.5,
                   settle: float = 2.0, seed: int = 0,
                   params: dict[str, Any] | None = None) -> ScalabilityRun:
    """Run use case `uc` with `instances` instances on `broker` (``"memory"`` or ``"nats"``)
    at `load` records/s for `duration` seconds; the lag of its group on ``input`` sampled
    every `sample_every` seconds and judged by `slo` (default `LagTrendSLO.scaled`)."""
    if broker not in BROKERS:
        raise ValueError(f"unknown broker {broker!r}; choose from {', '.join(BROKERS)}")
    if int(instances) != instances or instances < 1:
        raise ValueError(f"instances must be a positive integer, got {instances!r}")
    if instances > partitions:
        raise ValueError(f"{instances} instances share {partitions} partitions: "
                         "the extra ones would idle; use partitions >= instances")
    slo = slo or LagTrendSLO.scaled(load, duration)
    params = {"partitions": partitions, **(params or {})}
    with tempfile.TemporaryDirectory(prefix="edalab-scal-") as tmp:
        if uc == "uc1":
            params.setdefault("db", str(Path(tmp) / "uc1.db"))
        runner = _memory if broker == "memory" else _nats
        seconds, lag, gen, cpu = runner(uc, instances, load, duration, sample_every, settle,
                                        seed, params, Path(tmp))
    return ScalabilityRun(uc, broker, instances, load, seconds, lag, slo, gen.sent, gen.behind, cpu)


def _prepare(b: Broker, uc: str, params: dict[str, Any], load: int, seed: int) -> App:
    """Create the use case's topics (and publish the registry, for UC4) before any instance
    joins; the App built for it is returned."""
    app = use_case(uc, b, **params)
    for h in app.handlers:
        app.topic(h.topic)
        if isinstance(h.output, str):
            app.topic(h.output)
    if uc == "uc4":
        from edalab.scalability.uc4_hierarchy import registry_event

        root = sensor_registry(sensors=load, fanout=4, depth=3, seed=seed)
        b.publish("configuration", registry_event(root, 0))
    for topic in ("output", "uc4-late"):
        app.topic(topic)
    return app


def _cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each role's processes."""
    import psutil

    out = {}
    for role, ids in pids.items():
        total = 0.0
        for pid in ids:
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:  # a process that has gone: it used nothing more
                pass
        out[role] = total
    return out


def _sample(b: Broker, group: str, gen: LoadGenerator, duration: float, every: float,
            pids: dict[str, list[int]]) -> tuple[list[float], list[int], dict[str, float]]:
    """Lag of `group` on ``input`` every `every` seconds while the load runs, and the CPU
    seconds each role's processes used meanwhile."""
    before = _cpu_seconds(pids)
    seconds: list[float] = []
    lag: list[int] = []
    gen.start()
    while gen.started is None:
        time.sleep(0.01)
    end = gen.started + duration
    next_at = gen.started
    while True:
        now = time.time()
        if now >= next_at:
            seconds.append(now - gen.started)
            lag.append(sum(b.lag("input", group).values()))
            next_at += every
        if now >= end:
            break
        time.sleep(max(0.0, min(next_at, end) - time.time()))
    gen.stop()
    after = _cpu_seconds(pids)
    return seconds, lag, {k: after[k] - before[k] for k in pids}


def _memory(uc, instances, load, duration, every, settle, seed, params, tmp):
    b = MemoryBroker()
    _prepare(b, uc, params, load, seed)
    apps = [use_case(uc, b, **params) for _ in range(instances)]
    stop = threading.Event()
    threads = [threading.Thread(target=a.serve, kwargs={"stop": stop, "batch_size": 500,
                                                         "poll_timeout": 0.05}, daemon=True)
               for a in apps]
    for t in threads:
        t.start()
    group = GROUPS[uc]
    deadline = time.time() + 30
    while len(b.members("input", group)) < instances and time.time() < deadline:
        time.sleep(0.01)
    gen = LoadGenerator(b, load=load, duration=duration, seed=seed)
    gen.prepare()
    try:
        seconds, lag, cpu = _sample(b, group, gen, duration, every,
                                    {"this process": [os.getpid()]})
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        b.close()
    return seconds, lag, gen, cpu


_WORKER_MODULE = """from edalab.scalability import use_case


def app(broker):
    return use_case({uc!r}, broker, **{params!r})
"""


def _nats(uc, instances, load, duration, every, settle, seed, params, tmp):
    from edalab.brokers.nats.broker import NatsBroker
    from edalab.brokers.nats.server import NatsServer

    server = NatsServer().start()
    b = NatsBroker(server.url, lease_ttl=3.0)
    workers: list[subprocess.Popen] = []
    try:
        _prepare(b, uc, params, load, seed)
        (tmp / "scal_app.py").write_text(_WORKER_MODULE.format(uc=uc, params=params))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(tmp), *[p for p in sys.path if p]])}
        for i in range(instances):
            log = open(tmp / f"worker{i}.log", "w")  # noqa: SIM115  # closed with the process
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "edalab.cli", "worker", "scal_app:app", "--broker",
                 server.url, "--batch", "500", "--lease-ttl", "3"],
                cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=log))
        _wait_serving(tmp, instances, workers)
        time.sleep(settle)  # partition leases handed out among the members
        gen = LoadGenerator(b, load=load, duration=duration, seed=seed)
        gen.prepare()
        pids = {"nats-server": [server.process.pid],  # type: ignore[union-attr]  # started
                "workers": [w.pid for w in workers], "generator": [os.getpid()]}
        seconds, lag, cpu = _sample(b, GROUPS[uc], gen, duration, every, pids)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        b.close()
        server.cleanup()
    return seconds, lag, gen, cpu


def _wait_serving(tmp: Path, instances: int, workers: list[subprocess.Popen]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        logs = [(tmp / f"worker{i}.log").read_text() for i in range(instances)]
        dead = [i for i, w in enumerate(workers) if w.poll() is not None]
        if dead:
            raise RuntimeError(f"worker {dead[0]} exited: {logs[dead[0]].strip()[-500:]}")
        if all("serving" in text for text in logs):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{instances} worker(s) did not start serving within 60 s")
