"""Run the retraining workflow as choreography and as orchestration, and compare them from
what the runs recorded.

Nothing in the comparison is typed in: messages are read back from the broker's topics (every
topic of the style except the source topics: samples and timer ticks), latency is the event-time
(and wall-time) distance from ``drift.detected`` to the workflow's last message, the critical
path follows each message's ``causation`` back to the trigger, the outcome is the last message's
type (or *stuck* when that message still has a subscriber who never answered), and coupling
comes from each `Participant`'s declared subscriptions and emitted types.

>>> table = compare(n=2200, drifts=(1100,), warmup=400).table()
>>> table.loc[["messages", "critical path (messages)", "outcomes"]].values.tolist()
[[5, 10], [5, 10], ['wf-1: promoted', 'wf-1: promoted']]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from edalab.brokers.base import Broker
from edalab.patterns.eventstore.base import EventStore
from edalab.patterns.eventstore.memory import MemoryEventStore
from edalab.patterns.participant import coupling
from edalab.retraining.charts import sequence_chart
from edalab.retraining.choreography import Choreography
from edalab.retraining.models import drifting_stream, train_champion
from edalab.retraining.orchestration import Orchestration
from edalab.retraining.services import FailurePlan, ModelRegistry, RetrainingServices
from edalab.runtime.app import App
from edalab.runtime.stats import RunStats

__all__ = ["Comparison", "StyleRun", "compare", "run_style"]

STYLES = ("choreography", "orchestration")
_COMPENSATION = ("discard.requested", "challenger.discarded", "saga.compensated")


@dataclass
class StyleRun:
    """One style's run: the wired flow, its run statistics, and what it recorded."""

    flow: Choreography | Orchestration
    stats: RunStats

    @property
    def style(self) -> str:
        return self.flow.style

    @property
    def services(self) -> RetrainingServices:
        return self.flow.services

    def __repr__(self) -> str:
        return f"StyleRun({self.style}, {len(self.messages())} messages)"

    def messages(self) -> pd.DataFrame:
        """Every workflow message on the broker, in publication order (from each event's
        ``wallns``), with its sender and the participants subscribed to it; in orchestration
        also the coordinator's timeouts from the saga streams (``message`` False)."""
        broker: Broker = self.flow.app.broker
        prefix = self.flow.prefix + "."
        skip = set(self.flow.source_topics)
        receivers: dict[tuple[str, str], list[str]] = {}
        for p in self.flow.participants:
            for topic, types in p.subscriptions.items():
                for t in types:
                    receivers.setdefault((topic, t), []).append(p.name)
        rows = []
        for topic in broker.topics():
            if not topic.startswith(prefix) or topic in skip:
                continue
            for r in broker.read(topic):
                e = r.event
                rows.append({"wallns": e.extensions["wallns"], "workflow": e.data["workflow"],  # type: ignore[index]
                             "type": e.type, "topic": topic, "sender": e.source.lstrip("/"),
                             "receivers": receivers.get((topic, e.type), []), "time": e.time,
                             "id": e.id, "causation": e.extensions["causation"],  # type: ignore[index]
                             "message": True})
        store = getattr(self.flow, "store", None)
        if store is not None:
            for s in store.read_all():
                if s.event.type == "saga.step_timed_out":
                    stamp = int(s.recorded_at.timestamp() * 1e9)
                    rows.append({"wallns": stamp, "workflow": s.stream_id.removeprefix("saga-"),
                                 "type": f"timeout: {s.event.data['step']}", "topic": "",
                                 "sender": "coordinator", "receivers": [], "time": s.event.time,
                                 "id": s.event.id, "causation": "", "message": False})
        frame = pd.DataFrame(rows, columns=["wallns", "workflow", "type", "topic", "sender",
                                            "receivers", "time", "id", "causation", "message"])
        frame = frame.sort_values("wallns", kind="stable").reset_index(drop=True)
        frame["kind"] = [_kind(t, topic, m) for t, topic, m in
                         zip(frame.type, frame.topic, frame.message, strict=True)]
        return frame

    def workflows(self) -> pd.DataFrame:
        """One row per workflow run: messages, critical path, latency, outcome, failure."""
        msgs = self.messages()
        rows = []
        for workflow, m in msgs.groupby("workflow", sort=False):
            sent = m[m.message]
            first, last = sent.iloc[0], sent.iloc[-1]
            stuck = bool(last.receivers)
            failures = sent[sent.kind == "failure"].type.tolist()
            timeouts = m[~m.message].type.tolist()
            rows.append({
                "workflow": workflow, "messages": len(sent),
                "critical path (messages)": _chain(sent, last.id),
                "latency (event s)": (np.nan if stuck else
                                      (last.time - first.time).total_seconds()),
                "latency (wall ms)": np.nan if stuck else (last.wallns - first.wallns) / 1e6,
                "outcome": (f"stuck: {', '.join(last.receivers)} never answered {last.type}"
                            if stuck else _outcome(sent, last)),
                "failure noticed by": (", ".join(failures + timeouts) if failures or timeouts
                                       else ("nobody" if stuck else "")),
                "compensation": ", ".join(sent[sent.type.isin(_COMPENSATION)].type),
            })
        return pd.DataFrame(rows).set_index("workflow")

    def coupling(self) -> pd.DataFrame:
        return coupling(self.flow.participants)


def _kind(type: str, topic: str, message: bool) -> str:
    if not message:
        return "timeout"
    if type.endswith(".failed"):
        return "failure"
    if type in _COMPENSATION:
        return "compensation"
    if type.startswith("saga."):
        return "outcome"
    if type.endswith(".requested"):
        return "command"
    return "reply" if topic.endswith(".replies") else "event"


def _outcome(messages: pd.DataFrame, last: pd.Series) -> str:
    """The workflow's outcome in words both styles share; a saga's ``saga.completed`` takes
    the outcome of the reply that completed it."""
    type = last.type
    if type == "saga.completed":
        type = messages.type[messages.id == last.causation].iloc[0]
    if type.endswith(".failed"):
        return "failed"
    return {"model.promoted": "promoted", "model.rolled_back": "rolled back",
            "challenger.discarded": "compensated"}.get(type, type.removeprefix("saga."))


def _chain(messages: pd.DataFrame, last: str) -> int:
    """Messages on the causal chain ending at `last` (following ``causation``)."""
    cause = dict(zip(messages.id, messages.causation, strict=True))
    n, at = 0, last
    while at in cause:
        n, at = n + 1, cause[at]
    return n


def run_style(style: str, *, failures: FailurePlan | None = None, n: int = 6000,
              drifts: tuple[int, ...] = (2000, 4000), warmup: int = 1000, n_collect: int = 400,
              seed: int = 0, app: App | None = None, store: EventStore | None = None,
              timeouts: dict[str, float] | None = None,
              crash_after: tuple[str, int] | None = None, batch_size: int = 25) -> StyleRun:
    """Build the stream, a champion trained on its first `warmup` samples, and run `style`
    (``"choreography"`` or ``"orchestration"``) on the rest.

    `app` (and so its broker) defaults to a new `App` on a `MemoryBroker`; `store` (for
    orchestration) to a `MemoryEventStore`; `timeouts` and `crash_after` are the coordinator's.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if not 0 < warmup < (drifts[0] if drifts else n):
        raise ValueError(f"warmup must be in (0, first drift), got {warmup}")
    samples = drifting_stream(n, drifts=drifts, seed=seed)
    services = RetrainingServices(ModelRegistry(train_champion(samples[:warmup])),
                                  n_collect=n_collect, failures=failures, seed=seed)
    if style == "choreography":
        if timeouts is not None or crash_after is not None:
            raise ValueError("choreography has no coordinator: timeouts and crash_after apply "
                             "to orchestration only")
        flow: Choreography | Orchestration = Choreography(services, app)
    else:
        flow = Orchestration(services, store if store is not None else MemoryEventStore(), app,
                             timeouts=timeouts, crash_after=crash_after)
    return StyleRun(flow, flow.run(samples[warmup:], batch_size=batch_size))


@dataclass
class Comparison:
    """Both styles run on the same stream with the same failure plan."""

    runs: dict[str, StyleRun]

    def __repr__(self) -> str:
        return f"Comparison({', '.join(map(repr, self.runs.values()))})"

    def workflows(self) -> pd.DataFrame:
        return pd.concat({s: r.workflows() for s, r in self.runs.items()}, names=["style"])

    def coupling(self) -> pd.DataFrame:
        return pd.concat({s: r.coupling() for s, r in self.runs.items()}, names=["style"])

    def table(self) -> pd.DataFrame:
        """The comparison: one column per style, one row per measure."""
        cols = {}
        for style, run in self.runs.items():
            w, c, msgs = run.workflows(), run.coupling(), run.messages()
            registry = run.services.registry
            cols[style] = {
                "workflows": len(w),
                "messages": int(w.messages.sum()),
                "critical path (messages)": int(w["critical path (messages)"].max()),
                "latency (event s, mean)": round(w["latency (event s)"].mean(), 1),
                "latency (wall ms, mean)": round(w["latency (wall ms)"].mean(), 2),
                "outcomes": "; ".join(f"{k}: {v}" for k, v in w.outcome.items()),
                "failure noticed by": "; ".join(f"{k}: {v}" for k, v in
                                                w["failure noticed by"].items() if v) or "-",
                "compensations": int(msgs.type.isin(("challenger.discarded",)).sum()),
                "orphaned challengers": len(registry.candidates),
                "champion accuracy": round(run.services.monitor.accuracy.get(), 4),
                "participants": len(c),
                "topics": len({t for p in run.flow.participants for t in
                               (*p.subscriptions, *p.emits.values())}),
                "event types known (max)": int(c["event types known"].max()),
                "event types known (mean)": round(c["event types known"].mean(), 2),
                "partners (max)": int(c.partners.max()),
                "talks to every other participant": ", ".join(
                    c.index[c.partners == len(c) - 1]) or "nobody",
                "dead letters": run.stats.dead_letters,
            }
        frame = pd.DataFrame(cols)
        frame.columns.name = "style"
        return frame

    def sequence_chart(self, workflow: str = "wf-1") -> go.Figure:
        return sequence_chart({s: r.messages() for s, r in self.runs.items()},
                              {s: [p.name for p in r.flow.participants]
                               for s, r in self.runs.items()}, workflow)


def compare(failures: FailurePlan | None = None, *, broker: Broker | None = None,
            **kwargs) -> Comparison:
    """Run both styles (on `broker` if given: their topics are prefixed by style, so one
    broker holds both) with the same arguments (see `run_style`)."""
    runs = {}
    for style in STYLES:
        app = App(broker) if broker is not None else None
        extra = {k: v for k, v in kwargs.items()
                 if style == "orchestration" or k not in ("timeouts", "crash_after")}
        runs[style] = run_style(style, failures=failures, app=app, **extra)
    return Comparison(runs)
