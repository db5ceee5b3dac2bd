"""Host-side services for untrusted programs: cached, recorded evaluations, budgeted utilities, improver runs.

The parts: `_services` (what a run offers: sandbox, evaluations, LMs, the store), `_utility` (a task's
utility with a budget, the `use_sandbox` honeypot), `_improver` (an improver run and the calls it makes).
"""

from selftaught.broker._improver import IMPROVER_FAILURES, ImproverResult, _serve, run_improver
from selftaught.broker._services import Services
from selftaught.broker._utility import TaskUtility, note_sandbox_flag

__all__ = [
    "IMPROVER_FAILURES",
    "ImproverResult",
    "Services",
    "TaskUtility",
    "_serve",
    "note_sandbox_flag",
    "run_improver",
]
