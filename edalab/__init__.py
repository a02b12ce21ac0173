"""edalab: a lab for event-driven architectures for AI and data workflows."""

from edalab.events import Event, EventError

__all__ = ["Event", "EventError"]
__version__ = "0.1.0"
