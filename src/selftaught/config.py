"""One frozen, typed config (defaults are the paper's budgets), loaded from TOML and flags, validated."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from selftaught._files import read_capped
from selftaught.errors import ConfigError, UserError
from selftaught.tasks._groups import expand_groups

MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class Config:
    """Everything a run depends on. Passed explicitly; never global.

    Attributes:
      task: the task the improver is improved on (name, alias or path to a task file).
      iterations: T, rounds of self-improvement.
      lm: backend spec (`mutate`, `scripted:PATH`).
      seed: the run's seed; with deterministic backends the whole run is reproducible from it.
      runs_dir: where run directories are created.
      lm_budget: language-model calls per improver run (paper: 4).
      max_responses_per_call: samples per call (paper: 6).
      utility_budget: utility calls per improver run on a task (paper: 25).
      meta_utility_budget: meta-utility calls per self-improvement step (paper: 25).
      downstream_runs: improver runs averaged by the meta-utility (paper: 5).
      adopt: how a step's improver I_t is adopted: `always` (the paper's rule: when it runs and scores above 0)
        or `better` (only when a paired test on fresh val runs shows it beats I_{t-1} at p < 0.05; else I_{t-1}
        is kept). See `selftaught.stop.gate` and docs/statistics.md.
      gate_runs: the downstream runs each side of the `better` gate makes (at least GATE_RUNS_MINIMUM: with fewer,
        its sign-flip test cannot reach p < 0.05).
      population: the improvers a run keeps to improve from (1: the paper's chain, each step improving the latest
        adopted improver); see `selftaught.stop.archive` and docs/population.md.
      parent: which kept improver a step improves: `best` (the best fresh val meta-utility) or `descendants`
        (the best mean fresh val meta-utility of it and its descendants, as in the Huxley-Gödel Machine).
      transfer_tasks: tasks `transfer` evaluates on by default; a group name (`paper`, `benchmarks`: see
        `selftaught.tasks._groups`) stands for its tasks.
      workers: candidate evaluations (CPU-bound: they run untrusted code) in flight at once; default
        the core count. Improver runs, which mostly wait on the model, are bounded by `concurrency`.
      executor: where candidate evaluations run: `local` (sandboxed workers on this machine) or
        `ray` (Ray tasks, each running the candidate in the same sandbox on its node).
      ray_address: the Ray cluster for `executor = "ray"` (None: RAY_ADDRESS, else the instance last
        started here with `ray start`, else a new local one). See docs/scale.md.
      warm_workers: score candidates in workers forked from warm zygotes of the bubblewrap sandbox (a
        fresh child per candidate); off: a fresh sandbox per evaluation (slower; same scores).
      speculate: score the code blocks an improver's LM call returned before it asks (charging its
        budget only when it does); results are identical, unused work is reported in usage.
      improver_timeout: seconds one improver run may take before its worker is killed.
      memory_mb: address-space limit of every worker.
      sandbox: `auto` (bubblewrap if it works here, else a loud fallback), `strict` (refuse to
        run without full isolation) or `process` (reduced isolation, explicitly).
      base_url: an OpenAI-compatible endpoint for `openai:` (default: OPENAI_BASE_URL, else OpenAI).
      api_key_env: the environment variable holding the provider's key (never logged).
      max_tokens: the most tokens a reply may have.
      request_timeout: seconds one provider request may take.
      max_retries: retries of retryable provider failures (429, 5xx, timeouts, connection errors).
      concurrency: provider requests in flight at once, and downstream improver runs in flight at once
        inside a meta-utility (they wait on the model, not on a core).
      cache: `record` (read the LM cache, call and store on a miss), `replay` (never call the
        network; a miss is an error) or `off`.
      cache_path: the SQLite cache file (default: the user's cache directory).
      max_usd: stop the run cleanly once this many dollars are spent (None: no cap).
      max_calls: stop the run cleanly after this many LM calls (None: no cap).
      prices: overrides of the price table, model -> {input, output} dollars per 1M tokens.
      temperature: when set, every LM request uses it instead of the temperature the improver
        asked for (None: the improver's own, as in the paper).
      maximizer: the maximizer formulation (docs/formulations.md): an improver run on a task starts from the empty
        solution instead of the task's seed solution; it sees what to write through the utility's description only.
      iterate: k, the improver applied k times at test time (I^k; `transfer`, `compare`, `improve`): each pass
        starts from the previous pass's solution, with fresh LM samples and the full per-run budgets.
      split_secret: the secret task instances are derived from (None: SELFTAUGHT_SPLIT_SECRET, else
        the file in the user's config directory). Never printed or written: runs record its
        fingerprint.
    """

    task: str = "parity_noise"
    iterations: int = 3
    lm: str = "mutate"
    seed: int = 0
    runs_dir: str = "runs"
    lm_budget: int = 4
    max_responses_per_call: int = 6
    utility_budget: int = 25
    meta_utility_budget: int = 25
    downstream_runs: int = 5
    adopt: str = "always"
    gate_runs: int = 8
    population: int = 1
    parent: str = "best"
    transfer_tasks: tuple[str, ...] = (
        "str_grid_dist",
        "modified_quadratic_assignment",
        "three_sat",
        "maxcut",
        "parity_noiseless",
    )
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    executor: str = "local"
    ray_address: str | None = None
    speculate: bool = False
    warm_workers: bool = True
    improver_timeout: float = 900.0
    memory_mb: int = 4096
    sandbox: str = "auto"
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens: int = 2048
    request_timeout: float = 120.0
    max_retries: int = 5
    concurrency: int = 8
    cache: str = "record"
    cache_path: str | None = None
    max_usd: float | None = None
    max_calls: int | None = None
    prices: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    maximizer: bool = False
    iterate: int = 1
    split_secret: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, JSON-ready, without the split secret (which is never written anywhere)."""
        data = dataclasses.asdict(self)
        data["transfer_tasks"] = list(self.transfer_tasks)
        del data["split_secret"]
        return data


_MINIMUMS: dict[str, float] = {
    "seed": 0,
    "iterations": 0,
    "lm_budget": 1,
    "max_responses_per_call": 1,
    "utility_budget": 1,
    "meta_utility_budget": 1,
    "downstream_runs": 1,
    "workers": 1,
    "improver_timeout": 1,
    "memory_mb": 64,
    "max_tokens": 1,
    "request_timeout": 1,
    "max_retries": 0,
    "concurrency": 1,
    "max_usd": 0,
    "max_calls": 1,
    "temperature": 0,
    "iterate": 1,
    "population": 1,
}
# Upper bounds: far beyond any sensible run, but inside what the OS and the wire format can hold.
_MAXIMUMS: dict[str, float] = {
    "seed": 2**63 - 1,
    "iterations": 10_000,
    "lm_budget": 1_000_000,
    "max_responses_per_call": 1_000,
    "utility_budget": 1_000_000,
    "meta_utility_budget": 1_000_000,
    "downstream_runs": 100_000,
    "gate_runs": 100_000,
    "workers": 1_024,
    "improver_timeout": 7 * 24 * 3600,
    "memory_mb": 1 << 24,
    "max_tokens": 10_000_000,
    "request_timeout": 24 * 3600,
    "max_retries": 100,
    "concurrency": 1_024,
    "max_calls": 10**12,
    "max_usd": 10**9,
    "temperature": 2,
    "iterate": 1_000,
    "population": 10_000,
}


_CHOICES: dict[str, tuple[str, ...]] = {
    "sandbox": ("auto", "strict", "process"),
    "cache": ("off", "record", "replay"),
    "executor": ("local", "ray"),
    "adopt": ("always", "better"),
    "parent": ("best", "descendants"),
}
#: The fewest gate runs whose two-sided sign-flip test can give p < 0.05: its smallest p is 2 / 2^n (0.03125 for 6,
#: 0.0625 for 5). A test checks it against `selftaught.stats.smallest_sign_flip_p` and the gate's alpha.
GATE_RUNS_MINIMUM = 6


def _coerce(name: str, kind: Any, value: Any) -> Any:
    if isinstance(kind, str) and kind.endswith(" | None"):
        kind = kind.removesuffix(" | None")
    if kind in ("bool", bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if kind == "dict[str, Any]":
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table, got {value!r}")
        return dict(value)
    if kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    elif kind in ("float", float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
    elif kind in ("str", str):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    else:  # tuple[str, ...]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of names, got {value!r}")
        value = expand_groups(value) if name == "transfer_tasks" else tuple(value)
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ConfigError(f"{name} must be one of {', '.join(_CHOICES[name])}, got {value!r}")
    if name in _MINIMUMS and value < _MINIMUMS[name]:
        raise ConfigError(f"{name} must be at least {_MINIMUMS[name]:g}, got {value}")
    if name in _MAXIMUMS and value > _MAXIMUMS[name]:
        bound = _MAXIMUMS[name]
        raise ConfigError(f"{name} must be at most {int(bound) if bound == int(bound) else bound}, got {value}")
    if name == "gate_runs" and value < GATE_RUNS_MINIMUM:
        raise ConfigError(f"gate_runs must be at least {GATE_RUNS_MINIMUM}, got {value}: with fewer runs the gate's "
                          f"sign-flip test cannot reach p < 0.05 (its smallest p is 2 / 2^runs)")
    return value


def build_config(overrides: dict[str, Any], config_file: str | None = None) -> Config:
    """Defaults, then the TOML file (if any), then explicit overrides (None values are ignored)."""
    values: dict[str, Any] = {}
    if os.environ.get("SELFTAUGHT_LM"):
        values["lm"] = os.environ["SELFTAUGHT_LM"]
    if config_file is not None:
        values.update(load_toml(Path(config_file)))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in fields(Config)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown config key {key!r} (known: {', '.join(sorted(known))})")
        checked[key] = _coerce(key, known[key].type, value)
    return Config(**checked)


def load_toml(path: Path) -> dict[str, Any]:
    """Reads a flat TOML config (sections are flattened: [budgets] lm_budget = 4 works too)."""
    try:
        data = tomllib.loads(read_capped(str(path), "config", MAX_CONFIG_BYTES))
    except UserError as exc:
        raise ConfigError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "prices":
            flat[key] = value
        elif isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


DEFAULT = Config()
__all__ = ["DEFAULT", "GATE_RUNS_MINIMUM", "Config", "build_config", "load_toml"]


#: The config keys a command's flags (and the Python API's keyword arguments) may set; `prices` only in a file.
CONFIG_KEYS = ("lm", "seed", "task", "iterations", "runs_dir", "lm_budget", "max_responses_per_call",
               "utility_budget", "meta_utility_budget", "downstream_runs", "workers", "improver_timeout",
               "memory_mb", "transfer_tasks", "sandbox", "base_url", "api_key_env", "max_tokens",
               "request_timeout", "max_retries", "concurrency", "cache", "cache_path", "max_usd", "max_calls",
               "temperature", "split_secret", "executor", "ray_address", "speculate",
               "warm_workers", "maximizer", "iterate", "adopt", "gate_runs", "population", "parent")
