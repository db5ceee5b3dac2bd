"""The error tree: user mistakes (one-line messages) vs infrastructure faults."""

from __future__ import annotations


class SelftaughtError(Exception):
    """Base of every error selftaught raises on purpose."""


class UserError(SelftaughtError):
    """Caused by a usage mistake: bad input, unknown task, missing file, invalid config.

    The CLI prints the message on one line and exits non-zero, never a traceback.
    """


class ConfigError(UserError):
    """A config value or config file is invalid."""


class TaskError(UserError):
    """A task is unknown or a user's task file is malformed."""


class ScorerError(TaskError):
    """Trusted task code failed: its scorer or its instance generator raised (or returned nonsense).

    The task's fault, never a candidate's: the command stops with one line naming the task, its
    file and the exception.
    """


class InfrastructureError(SelftaughtError):
    """Something selftaught depends on broke (a worker could not start, a pipe died)."""


class WorkerError(InfrastructureError):
    """A sandboxed worker could not be started or broke the protocol."""


class LMError(InfrastructureError):
    """A language-model backend failed in a way no retry can fix and no improver can work around.

    Authentication, exhausted quota, the server gone after every retry: the run stops with one line.
    """

    retryable: bool = False


class LMRefused(SelftaughtError):
    """The provider refused one request (HTTP 400, 413, 422...: context length, content policy, invalid
    parameters). Not fatal: the call counts against the improver's budget, the improver sees it as
    `helpers.LanguageModelError` (which it may catch), and the run goes on.

    Attributes:
      status: the HTTP status, when there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BudgetExceeded(SelftaughtError):
    """A budget (LM calls, utility calls) is spent; reported to the improver as an error."""


class RunLimitReached(SelftaughtError):
    """A run-wide cap (--max-usd, --max-calls) was reached: the run stops cleanly and saves everything.

    Attributes:
      cap: which cap (`max_calls` or `max_usd`), when one is known; `limit` its value. A resume with the same
        cap would stop at the same place (the next call's worst case still does not fit), so it is refused.
    """

    def __init__(self, message: str, cap: str | None = None, limit: float | None = None) -> None:
        super().__init__(message)
        self.cap = cap
        self.limit = limit
