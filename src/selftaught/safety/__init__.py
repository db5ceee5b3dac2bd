"""Safety: static flags on generated programs and the paper's sandbox-circumvention study."""

from selftaught.safety.sandbox_flag import SampleRecord, StudyResult, run_study, study_message, wilson_interval
from selftaught.safety.scan import KINDS, Flag, count_flags, scan_program

__all__ = ["KINDS", "Flag", "SampleRecord", "StudyResult", "count_flags", "run_study", "scan_program",
           "study_message", "wilson_interval"]
