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


class InfrastructureError(SelftaughtError):
    """Something selftaught depends on broke (a worker could not start, a pipe died)."""


class WorkerError(InfrastructureError):
    """A sandboxed worker could not be started or broke the protocol."""


class LMError(InfrastructureError):
    """A language-model backend failed in a way that is not the candidate's fault."""

    retryable: bool = False


class BudgetExceeded(SelftaughtError):
    """A budget (LM calls, utility calls) is spent; reported to the improver as an error."""


class RunLimitReached(SelftaughtError):
    """A run-wide cap (--max-usd, --max-calls) was reached: the run stops cleanly and saves everything."""
