"""STOP itself: the meta-utility, the self-improvement loop, transfer to other tasks."""

from selftaught.stop.gate import GateDecision, recorded_gates
from selftaught.stop.loop import Iteration, self_improve
from selftaught.stop.meta_utility import MetaScore, MetaUtility, MetaUtilityService

__all__ = ["GateDecision", "Iteration", "MetaScore", "MetaUtility", "MetaUtilityService", "recorded_gates",
           "self_improve"]
