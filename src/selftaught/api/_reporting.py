"""Where a command's progress lines, notes and warnings go: callbacks a caller chooses (the CLI prints them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

ProgressCallback = Callable[[str], None]

_LOG = logging.getLogger("selftaught")


class Reporter:
    """Progress, notes and warnings of one command.

    `progress` receives every progress line and note (None: dropped); a warning (something the user must see: a
    reduced-isolation sandbox, a run that stopped early) goes to `on_warning`, by default the `selftaught` logger,
    and is kept in `warnings` for the result.
    """

    def __init__(self, progress: ProgressCallback | None = None,
                 on_warning: ProgressCallback | None = None) -> None:
        self._progress = progress
        self._on_warning = on_warning
        self.warnings: list[str] = []

    def __call__(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)

    def notice(self, text: str) -> None:
        """A note about how the command runs (e.g. which backend answers)."""
        if text:
            self(f"note: {text}")

    def warn(self, text: str | None) -> None:
        """A warning the user must see."""
        if not text:
            return
        self.warnings.append(text)
        if self._on_warning is not None:
            self._on_warning(text)
        else:
            _LOG.warning("%s", text)
