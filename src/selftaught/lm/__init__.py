"""Language models: the backend contract, offline, scripted and real providers, the record/replay cache."""

from selftaught.lm._base import Backend, CompletionRequest, Generation, OfflineBackend
from selftaught.lm._spec import AVAILABLE_SPECS, check_spec, parse_backend, spec_source
from selftaught.lm.mutate import MutateBackend
from selftaught.lm.scripted import ScriptedBackend

__all__ = [
    "AVAILABLE_SPECS",
    "Backend",
    "CompletionRequest",
    "Generation",
    "MutateBackend",
    "OfflineBackend",
    "ScriptedBackend",
    "check_spec",
    "parse_backend",
    "spec_source",
]
