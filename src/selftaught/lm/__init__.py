"""Language models: the backend contract, the offline and scripted backends, sessions."""

from selftaught.lm._base import Backend, CompletionRequest
from selftaught.lm._spec import parse_backend
from selftaught.lm.mutate import MutateBackend
from selftaught.lm.scripted import ScriptedBackend

__all__ = ["Backend", "CompletionRequest", "MutateBackend", "ScriptedBackend", "parse_backend"]
