"""STOP itself: the meta-utility, the self-improvement loop, transfer to other tasks."""

from selftaught.stop.loop import Iteration, self_improve
from selftaught.stop.meta_utility import MetaScore, MetaUtility, MetaUtilityService

__all__ = ["Iteration", "MetaScore", "MetaUtility", "MetaUtilityService", "self_improve"]
