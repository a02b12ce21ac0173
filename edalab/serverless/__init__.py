"""Serverless functions on the event bus: a FaaS simulator (cold starts, keep-alive policies,
concurrency, cost) and functions run for real in worker processes."""

from __future__ import annotations

from edalab.serverless.policies import AlwaysOn, Fixed, Hybrid, Provisioned
from edalab.serverless.simulate import SimResult, simulate

__all__ = ["AlwaysOn", "Fixed", "Hybrid", "Provisioned", "SimResult", "simulate"]
