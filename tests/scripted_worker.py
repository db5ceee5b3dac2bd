"""A scripted stand-in for a worker and a sandbox that hands them out: for testing the orchestrator's message loops
without processes (each item of a script is a message the worker "sends", or an exception its channel raises)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from selftaught.sandbox import ChannelClosed, ChannelTimeout, Limits


class ScriptedWorker:
    """Plays a worker's side from a script: each item is a message to receive, or an exception to raise."""

    def __init__(self, script: list[Any], pause: float = 0.0) -> None:
        self.script = list(script)
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.pause = pause  # seconds each message takes to arrive (as a slow or costly message would)

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ChannelClosed("killed")
        self.sent.append(message)

    def receive(self, timeout: float) -> dict[str, Any]:
        if self.closed or not self.script:
            raise ChannelClosed("nothing more to say")
        item = self.script.pop(0)
        time.sleep(self.pause)
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, dict)
        return item

    def receive_or_stop(self, timeout: float, grace: float = 0.5) -> tuple[dict[str, Any] | None, bool]:
        try:
            return self.receive(timeout), False
        except ChannelTimeout:
            try:
                return self.receive(grace), True
            except (ChannelTimeout, ChannelClosed):
                return None, True

    def kill(self) -> None:
        self.closed = True

    def stderr_tail(self, limit: int = 4000) -> str:
        return "Traceback (most recent call last): ...\n"


class ScriptedSandbox:
    """Hands out scripted workers in turn (a fresh one after each kill)."""

    name = "scripted"
    isolated = True
    limits = Limits()

    def __init__(self, scripts: list[list[Any]], pause: float = 0.0) -> None:
        self._scripts: Iterator[list[Any]] = iter(scripts)
        self.launched = 0
        self.pause = pause

    def launch(self, seed: int = 0) -> ScriptedWorker:
        self.launched += 1
        # Past the scripts, a worker that starts and then dies (a worker that never starts is an infrastructure
        # fault, which a test asks for with a script of its own).
        return ScriptedWorker(next(self._scripts, [{"op": "loading"}]), self.pause)
