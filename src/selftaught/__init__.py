"""selftaught: the Self-Taught Optimizer (STOP), with generated code kept out of the orchestrator."""

from selftaught.api import (
    ArenaResult,
    CompareResult,
    Estimate,
    ImproveResult,
    LoadedRun,
    RepeatsResult,
    ReproduceResult,
    RunResult,
    ScoreResult,
    TransferResult,
    arena,
    compare,
    estimate,
    improve,
    load_run,
    reproduce,
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
    "ArenaResult",
    "CompareResult",
    "Config",
    "Estimate",
    "Evaluation",
    "ImproveResult",
    "InfrastructureError",
    "Instance",
    "LoadedRun",
    "RepeatsResult",
    "ReproduceResult",
    "RunResult",
    "ScoreResult",
    "SelftaughtError",
    "Task",
    "TransferResult",
    "UserError",
    "arena",
    "build_config",
    "compare",
    "estimate",
    "evaluate",
    "extract_code",
    "improve",
    "load_run",
    "reproduce",
    "run",
    "score",
    "seed_improver",
    "transfer",
]
