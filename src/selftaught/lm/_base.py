"""The backend contract: one method that answers a completion request with n replies."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class CompletionRequest:
    """One request to a backend, canonical and self-contained.

    Attributes:
      system: the system prompt (the paper's `expertise`).
      message: the user message.
      temperature: sampling temperature.
      n: number of replies wanted.
      first_sample: index of the first of the n samples among identical requests made on the
        same stream (the second identical request on a stream starts where the first ended).
      seed: the run's seed mixed with the stream's name: together with the request and the
        sample index it determines a deterministic backend's reply.
    """

    system: str
    message: str
    temperature: float
    n: int
    first_sample: int = 0
    seed: int = 0

    def content_key(self) -> str:
        """Hash of what was asked (not of which samples or seed): groups identical requests."""
        blob = json.dumps([self.system, self.message, self.temperature], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def sample_seed(self, sample: int) -> int:
        """A 64-bit seed for sample `sample` that depends only on seed, request and index."""
        blob = f"{self.seed}\x00{self.content_key()}\x00{sample}".encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


class Backend(ABC):
    """A language-model backend. Budgets and accounting live above it, in the session."""

    name: str = "backend"
    #: A line shown to the user when this backend is used (e.g. "no model: offline baseline").
    notice: str = ""

    @abstractmethod
    def complete(self, request: CompletionRequest) -> list[str]:
        """Returns exactly `request.n` replies, for samples first_sample .. first_sample+n-1."""
