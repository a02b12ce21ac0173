"""One run of `edalab bench rr` in a process of its own (so every style's processes start
fresh and are measured alike): ``python -m edalab.bench._rr_run STYLE LOAD DURATION FAULT
SEED`` prints one JSON object, the latency of every transaction that was answered.

Latency is from a transaction's scheduled send time (open loop: a late send counts its wait)
to its answer: the HTTP response, the monolith's return, or the result event written by the
worker. The slow-scorer fault slows the middle third of the run.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edalab.bench._rr_work import Scorer, in_fault, schedule, scoring_events
from edalab.brokers.base import Broker
from edalab.brokers.nats.server import free_port
from edalab.events import Event
from edalab.runtime.app import App

__all__ = ["STYLES", "scoring_app"]

STYLES = ("monolith", "http", "eda-memory", "eda-nats")
TIMEOUT_S = 1.0  # the HTTP client's timeout per request
HTTP_CLIENTS = 16  # connections the HTTP client keeps open


def scoring_app(broker: Broker, seed: int) -> App:
    """The event-driven style: ``transactions`` -> score -> ``scores``."""
    scorer = Scorer(seed)
    app = App(broker, partitions=1)

    @app.handler("transactions", group="scoring", output="scores")
    def score(event: Event) -> Event:
        p = scorer.score(event.data)
        return Event("fraud.score", "/rr", {"tx_id": event.data["TX_ID"], "score": p,
                                            "sent_at": event.data["sent_at"],
                                            "done_at": time.time()}, id=f"score-{event.id}")
    return app


def _wait_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def _monolith(events, offsets, seed, duration) -> dict[str, Any]:
    scorer = Scorer(seed)
    start = time.time() + 0.2
    lat = []
    for e, off in zip(events, offsets, strict=True):
        _wait_until(start + off)
        scorer.score(e.data)
        lat.append(time.time() - start - off)
    return {"latency_s": lat, "errors": 0, "max_lag": 0, "start": start,
            "span_s": time.time() - start}


def _http(events, offsets, seed, duration) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "edalab.bench._rr_http", str(port),
                               str(seed)])
    try:
        _wait_http(port, server)
        return _http_client(port, events, offsets, time.time() + 0.2)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_http(port: int, server: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the HTTP scoring service exited at start")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
            conn.request("GET", "/score")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the HTTP scoring service did not start within 60 s")


def _http_client(port, events, offsets, start) -> dict[str, Any]:
    """Send each transaction at its time from a pool of threads, each with a kept-alive
    connection (a request waits for a free thread, and that wait counts)."""
    local = threading.local()
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(body: bytes, off: float) -> None:
        nonlocal errors
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port,
                                                           timeout=TIMEOUT_S)
        try:
            conn.request("POST", "/score", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            local.conn = None
            ok = False  # a timeout or a refused connection: what the caller sees
        with lock:
            if ok:
                lat.append(time.time() - start - off)
            else:
                errors += 1

    with ThreadPoolExecutor(max_workers=HTTP_CLIENTS) as pool:
        for e, off in zip(events, offsets, strict=True):
            _wait_until(start + off)
            pool.submit(one, json.dumps(e.data).encode(), off)
    return {"latency_s": lat, "errors": errors, "max_lag": 0, "start": start,
            "span_s": time.time() - start}


def _produce(broker: Broker, events, offsets, group: str, start: float) -> int:
    """Publish each transaction at its time (stamped ``sent_at``); the largest lag seen."""
    max_lag = 0
    last_sample = 0.0
    i = 0
    while i < len(offsets):
        now = time.time() - start
        j = i
        while j < len(offsets) and offsets[j] <= now:
            j += 1
        if j > i:
            broker.publish_many("transactions", [
                e.replace(data={**e.data, "sent_at": start + off})
                for e, off in zip(events[i:j], offsets[i:j], strict=True)])
            i = j
        if now - last_sample >= 0.25:
            last_sample = now
            max_lag = max(max_lag, sum(broker.lag("transactions", group).values()))
        time.sleep(0.002)
    return max_lag


def _drain(broker: Broker, group: str, until: float) -> None:
    while time.time() < until and sum(broker.lag("transactions", group).values()) > 0:
        time.sleep(0.05)


def _results(broker: Broker, start: float, max_lag: int) -> dict[str, Any]:
    data = [r.event.data for r in broker.read("scores")]
    return {"latency_s": [d["done_at"] - d["sent_at"] for d in data], "errors": 0,
            "max_lag": max_lag, "start": start,
            "span_s": max((d["done_at"] for d in data), default=start) - start}


def _eda_memory(events, offsets, seed, duration) -> dict[str, Any]:
    from edalab.brokers.memory import MemoryBroker

    broker = MemoryBroker()
    app = scoring_app(broker, seed)
    for topic in ("transactions", "scores"):
        app.topic(topic)
    stop = threading.Event()
    worker = threading.Thread(target=app.serve, kwargs={"stop": stop, "poll_timeout": 0.01})
    worker.start()
    start = time.time() + 0.2
    try:
        max_lag = _produce(broker, events, offsets, "scoring", start)
        _drain(broker, "scoring", time.time() + 3 * duration)
    finally:
        stop.set()
        worker.join(30)
    return _results(broker, start, max_lag)


_WORKER = """from edalab.bench._rr_run import scoring_app


def app(broker):
    return scoring_app(broker, {seed!r})
"""


def _eda_nats(events, offsets, seed, duration) -> dict[str, Any]:
    from edalab.brokers.nats.broker import NatsBroker
    from edalab.brokers.nats.server import NatsServer

    server = NatsServer().start()
    broker = NatsBroker(server.url)
    tmp = Path(tempfile.mkdtemp(prefix="edalab-rr-"))
    worker = None
    try:
        broker.create_topic("transactions", 1)
        broker.create_topic("scores", 1)
        (tmp / "rr_app.py").write_text(_WORKER.format(seed=seed))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp), *sys.path[1:]])}
        log = tmp / "worker.log"
        with open(log, "w") as err:
            worker = subprocess.Popen([sys.executable, "-m", "edalab.cli", "worker",
                                       "rr_app:app", "--broker", server.url], cwd=tmp,
                                      env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 60
        while "serving" not in log.read_text():
            if worker.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the scoring worker did not start: {log.read_text()[-300:]}")
            time.sleep(0.05)
        time.sleep(1.0)  # its partition lease taken
        start = time.time() + 0.2
        max_lag = _produce(broker, events, offsets, "scoring", start)
        _drain(broker, "scoring", time.time() + 3 * duration)
        return _results(broker, start, max_lag)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        broker.close()
        server.cleanup()


_RUNNERS = {"monolith": _monolith, "http": _http, "eda-memory": _eda_memory,
            "eda-nats": _eda_nats}


def run(style: str, load: float, duration: float, fault: str, seed: int) -> dict[str, Any]:
    """One run, in this process: the latencies (seconds) and the counts. The load starts
    once the style's service is up (trained, listening, joined)."""
    if style not in _RUNNERS:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    offsets = schedule(load, duration, fault)
    events = scoring_events(seed, len(offsets))
    if len(events) < len(offsets):
        raise ValueError(f"{len(offsets)} transactions asked, {len(events)} simulated: lower "
                         "the load or the duration")
    if fault == "slow":
        events = [e.replace(data={**e.data, "slowed": True}) if in_fault(off, duration) else e
                  for e, off in zip(events, offsets, strict=True)]
    out = _RUNNERS[style](events, offsets, seed, duration)
    out["sent"] = len(offsets)
    out["end"] = time.time()
    return out


if __name__ == "__main__":
    style, load, duration, fault, seed = sys.argv[1:6]
    print(json.dumps(run(style, float(load), float(duration), fault, int(seed))))
