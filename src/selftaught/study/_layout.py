"""A study directory: its plan (`study.json`), its runs, transfer files and safety results, found again on resume."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selftaught._atomic import write_json
from selftaught.config import Config, build_config
from selftaught.errors import UserError
from selftaught.store._status import read_run

FORMAT = 1
PLAN_FILE = "study.json"
RECORD_FILE = "reproduce.json"


@dataclass(frozen=True)
class StudyPlan:
    """What a `reproduce` study runs: K seeds of STOP for T iterations on `task`, transfer of each seed's I_0 and I_T
    to `transfer_tasks`, and the sandbox-flag study with and without the warning (`sandbox_samples` each)."""

    seeds: tuple[int, ...]
    iterations: int
    task: str
    transfer_tasks: tuple[str, ...]
    sandbox_samples: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": list(self.seeds), "transfer_tasks": list(self.transfer_tasks)}


class StudyDir:
    """The paths of a study directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs = root / "runs"
        self.transfer = root / "transfer"
        self.safety = root / "safety"

    def transfer_file(self, seed: int) -> Path:
        return self.transfer / f"seed-{seed}.json"

    def safety_file(self, warn: bool) -> Path:
        return self.safety / f"sandbox-flag-{'warn' if warn else 'nowarn'}.json"

    def create(self, config: Config, plan: StudyPlan) -> None:
        """A new study directory (refusing one that holds a study: that is what --resume is for)."""
        if (self.root / PLAN_FILE).exists():
            raise UserError(f"{self.root} holds a study already: continue it with --resume {self.root}, or give "
                            "--out another directory")
        try:
            for path in (self.runs, self.transfer, self.safety):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the study directory {self.root} ({exc.strerror})") from None
        write_json(self.root / PLAN_FILE, {"format": FORMAT, "kind": "reproduce", "plan": plan.to_dict(),
                                           "config": config.to_dict()})

    def load(self) -> tuple[Config, StudyPlan]:
        """The config and plan of the study in this directory (one line if there is none)."""
        data = read_json(self.root / PLAN_FILE)
        if not isinstance(data, dict) or data.get("kind") != "reproduce" or not isinstance(data.get("plan"), dict):
            raise UserError(f"{self.root} holds no reproduce study (no {PLAN_FILE}): give the directory a study "
                            "was run into with --out")
        plan = data["plan"]
        try:
            return build_config(dict(data.get("config") or {})), StudyPlan(
                seeds=tuple(int(s) for s in plan["seeds"]), iterations=int(plan["iterations"]), task=str(plan["task"]),
                transfer_tasks=tuple(str(t) for t in plan["transfer_tasks"]),
                sandbox_samples=int(plan["sandbox_samples"]))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{self.root / PLAN_FILE} is damaged: it cannot be resumed") from None

    def run_of(self, seed: int) -> Path | None:
        """The run directory of `seed` (the newest, if a crash left more than one), if one was started."""
        found = []
        if self.runs.is_dir():
            for path in sorted(self.runs.iterdir()):
                info = read_run(path) if path.is_dir() else None
                if info is not None and info.status != "unreadable" and info.manifest.get("seed") == seed:
                    found.append(path)
        return found[-1] if found else None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} ({exc})") from None
