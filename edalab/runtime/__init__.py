"""The runtime: `App`, its clocks and its run statistics."""

from edalab.errors import BatchFailure
from edalab.runtime.app import App, NothingToRunError
from edalab.runtime.clock import Clock, VirtualClock, WallClock
from edalab.runtime.handler import Handler, HandlerError
from edalab.runtime.stats import HandlerStats, RunStats

__all__ = ["App", "BatchFailure", "Clock", "Handler", "HandlerError", "HandlerStats",
           "NothingToRunError", "RunStats", "VirtualClock", "WallClock"]
