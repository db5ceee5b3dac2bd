"""A scripted stand-in for a worker and a sandbox that hands them out: for testing the orchestrator's message loops
without processes (each item of a script is a message the worker "sends", an exception its channel raises, or CPU
time it burns while nothing arrives)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selftaught.sandbox import ChannelClosed, ChannelTimeout, Limits


@dataclass(frozen=True)
class Burn:
    """A script item: the worker uses `seconds` of CPU, and nothing arrives (the wait times out)."""

    seconds: float


class ScriptedWorker:
    """Plays a worker's side from a script: each item is a message to receive, an exception to raise, or a Burn."""

    cpu_source = "scripted"

    def __init__(self, script: list[Any], pause: float = 0.0) -> None:
        self.script = list(script)
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.ended: str | None = None  # "retired" (its zygote may serve again) or "killed", once ended
        self.pause = pause  # seconds each message takes to arrive (as a slow or costly message would)
        self.cpu = 0.0  # CPU seconds used so far: only Burn items use any
        self.interrupts = 0
        self.limits: list[int | None] = []  # the size limit of each receive

    def send(self, message: dict[str, Any], attachment: bytes = b"", timeout: float | None = None) -> None:
        if self.closed:
            raise ChannelClosed("killed")
        self.sent.append(message)

    def receive(self, timeout: float, limit: int | None = None) -> dict[str, Any]:
        self.limits.append(limit)
        if self.closed or not self.script:
            raise ChannelClosed("nothing more to say")
        item = self.script.pop(0)
        time.sleep(self.pause)
        if isinstance(item, Burn):
            self.cpu += item.seconds
            raise ChannelTimeout()
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, dict)
        return self.answering(item)

    def answering(self, message: dict[str, Any]) -> dict[str, Any]:
        """A scripted result names the last call sent, as a worker's does, unless the script names one itself."""
        calls = [m for m in self.sent if m.get("op") == "call"]
        if message.get("op") == "result" and "n" not in message and calls:
            return {**message, "n": calls[-1].get("n")}
        return message

    def cpu_time(self) -> float:
        if self.closed:
            raise ChannelClosed("killed")
        return self.cpu

    def interrupt(self) -> None:
        self.interrupts += 1

    def kill(self) -> None:
        self.ended = self.ended or "killed"
        self.closed = True

    def retire(self) -> None:
        self.ended = self.ended or "retired"
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
        self.workers: list[ScriptedWorker] = []

    def launch(self, seed: int = 0) -> ScriptedWorker:
        self.launched += 1
        # Past the scripts, a worker that starts and then dies (a worker that never starts is an infrastructure
        # fault, which a test asks for with a script of its own).
        self.workers.append(ScriptedWorker(next(self._scripts, [{"op": "loading"}]), self.pause))
        return self.workers[-1]
