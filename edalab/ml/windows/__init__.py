"""Event-time windows per key: tumbling, hopping and session, aggregated with `river.stats`.

Time is the events' own time, not the clock of the machine. The operator's **watermark** is the
largest event time it has seen minus `out_of_orderness`: a promise that earlier events are not
expected any more. One watermark serves all keys (like a Kafka Streams task's stream time), so a
quiet key's windows still close while other keys advance time. A window ``[start, end)`` closes,
emitting one ``window.result`` event, as soon as ``watermark >= end + allowed_lateness``; an
event that arrives for a window that is already closed is **late**: counted in
``op.stats["late"]`` and routed (a ``window.late`` event, or the `on_late` callback), never
dropped silently. Closed windows are dropped, so state is the open windows only.

At the end of a stream, ``op.flush()`` closes every open window. Inside an `App` pipeline the
App does it when its sources drain, and the stages downstream handle the results (and flush
in turn) before the run ends.
"""

from edalab.ml.windows.hopping import HoppingWindow
from edalab.ml.windows.session import SessionWindow
from edalab.ml.windows.tumbling import TumblingWindow

__all__ = ["HoppingWindow", "SessionWindow", "TumblingWindow"]
