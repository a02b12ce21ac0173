"""Health monitoring: NEWS2 scoring (and, later, the monitoring pipeline)."""

from edalab.health.news2 import News2, news2, news2_frame

__all__ = ["News2", "news2", "news2_frame"]
