"""Serverless functions on the event bus: a FaaS simulator (cold starts, keep-alive policies,
concurrency, cost) and functions run for real in worker processes."""

from __future__ import annotations

from edalab.serverless.functions import Functions, FunctionStats
from edalab.serverless.platform import PlatformResult, simulate_platform
from edalab.serverless.policies import AlwaysOn, Fixed, Hybrid, Provisioned
from edalab.serverless.simulate import SimResult, simulate
from edalab.serverless.workload import Workload, azure_workload, trace_workload

__all__ = ["AlwaysOn", "Fixed", "FunctionStats", "Functions", "Hybrid", "PlatformResult",
           "Provisioned", "SimResult", "Workload", "azure_workload", "simulate",
           "simulate_platform", "trace_workload"]
