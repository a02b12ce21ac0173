"""What a worker run of `edalab bench nats` cost: CPU seconds of each process (psutil), CPU
per relayed event, and how busy the machine's cores were (ours and everyone's)."""

from __future__ import annotations

from typing import Any

import psutil

__all__ = ["cpu_line", "cpu_report", "cpu_seconds", "machine_busy"]


def cpu_seconds(pids: list[int | None]) -> list[float | None]:
    """CPU seconds (user + system) each process has used so far (None: not measured)."""
    out: list[float | None] = []
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times() if pid is not None else None
        except psutil.Error:  # gone: nothing to count
            t = None
        out.append(None if t is None else t.user + t.system)
    return out


def machine_busy() -> float:
    """CPU seconds the machine's cores have been busy so far (any process)."""
    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq",
                                              "steal"))


def cpu_report(before: list[float | None], after: list[float | None], count: int,
               busy: float, wall: float, events: int) -> dict[str, Any]:
    """What a worker run cost. `before` and `after`: CPU seconds of the `count` workers,
    of nats-server (None: not measured) and of the bench process; `busy`: the machine's busy
    CPU seconds during those `wall` seconds.

    >>> r = cpu_report([1.0, 2.0, None, 5.0], [2.0, 3.0, None, 6.0], 2, 6.0, 3.0, 10_000)
    >>> r["workers_s"], r["server_s"], r["cpu_us_per_event"], r["cores_ours"], r["cores_machine"]
    ([1.0, 1.0], None, 300.0, 1.0, 2.0)
    """
    used = [None if a is None or b is None else round(b - a, 3)
            for a, b in zip(before, after, strict=True)]
    ours = sum(u for u in used if u is not None)
    return {"workers_s": used[:count], "server_s": used[count], "bench_s": used[count + 1],
            "cpu_us_per_event": round(ours / events * 1e6, 1),
            "cores_ours": round(ours / wall, 2), "cores_machine": round(busy / wall, 2)}


def cpu_line(costs: dict[str, dict[str, Any]], cores: int | None) -> str:
    """The table's line on what the worker runs cost.

    >>> one = {"cpu_us_per_event": 70.0, "server_s": 1.0, "cores_ours": 1.9,
    ...        "cores_machine": 2.0}
    >>> line = cpu_line({"1": one, "2": {**one, "cpu_us_per_event": 72.4}}, 2)
    >>> first, second = line.split("; ")
    >>> first
    'CPU per event (workers + nats-server + bench): 1 worker 70 us, 2 workers 72 us'
    >>> second
    'cores busy, ours / all of 2: 1.9 / 2.0, 1.9 / 2.0'
    """
    whose = ("workers + nats-server + bench" if all(c["server_s"] is not None
                                                    for c in costs.values())
             else "workers + bench, not the server's")
    return (f"CPU per event ({whose}): "
            + ", ".join(f"{k} worker{'s' if k != '1' else ''} {c['cpu_us_per_event']:,.0f} us"
                        for k, c in costs.items())
            + f"; cores busy, ours / all of {cores}: "
            + ", ".join(f"{c['cores_ours']:.1f} / {c['cores_machine']:.1f}"
                        for c in costs.values()))
