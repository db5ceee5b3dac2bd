"""Host-side services for untrusted programs: cached, recorded evaluations, budgeted utilities, improver runs.

The parts: `_services` (what a run offers: sandbox, evaluations, LMs, the store), `_utility` (a task's
utility with a budget, the `use_sandbox` honeypot), `_improver` (an improver run and the calls it makes),
`_held` (what a speculative computation records, held until an improver asks for its result).
"""

from selftaught.broker._held import HeldRecords, holding
from selftaught.broker._improver import IMPROVER_FAILURES, ImproverResult, _serve, run_improver
from selftaught.broker._services import Services, improver_sandbox
from selftaught.broker._utility import TaskUtility, note_sandbox_flag

__all__ = [
    "IMPROVER_FAILURES",
    "HeldRecords",
    "ImproverResult",
    "Services",
    "TaskUtility",
    "_serve",
    "holding",
    "improver_sandbox",
    "note_sandbox_flag",
    "run_improver",
]
