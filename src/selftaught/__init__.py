"""selftaught: the Self-Taught Optimizer (STOP), with generated code kept out of the orchestrator."""

from selftaught.api import (
    CompareResult,
    ImproveResult,
    LoadedRun,
    RepeatsResult,
    RunResult,
    ScoreResult,
    TransferResult,
    compare,
    improve,
    load_run,
    run,
    score,
    transfer,
)
from selftaught.config import Config, build_config
from selftaught.errors import InfrastructureError, SelftaughtError, UserError
from selftaught.evaluate import Evaluation, evaluate
from selftaught.improver import extract_code, seed_improver
from selftaught.tasks import Instance, Task

__version__ = "0.1.0"
__all__ = [
    "CompareResult",
    "Config",
    "ImproveResult",
    "LoadedRun",
    "RepeatsResult",
    "RunResult",
    "ScoreResult",
    "TransferResult",
    "compare",
    "improve",
    "load_run",
    "run",
    "score",
    "transfer",
    "Evaluation",
    "InfrastructureError",
    "Instance",
    "SelftaughtError",
    "Task",
    "UserError",
    "build_config",
    "evaluate",
    "extract_code",
    "seed_improver",
]
