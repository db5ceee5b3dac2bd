"""Studies: compositions of runs, transfers and the safety studies over many seeds, in one directory."""

from selftaught.study._layout import StudyPlan
from selftaught.study._reproduce import ReproduceResult, reproduce_study

__all__ = ["ReproduceResult", "StudyPlan", "reproduce_study"]
