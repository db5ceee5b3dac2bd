"""What every command shares: common flags, config building, output in JSON or for people, progress."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from selftaught._text import json_safe, visible
from selftaught.api._reporting import Reporter as BaseReporter
from selftaught.config import CONFIG_KEYS, Config, build_config
from selftaught.errors import ConfigError
from selftaught.lm import AVAILABLE_SPECS, check_spec, spec_source
from selftaught.lm._spec import ENV_VAR as SPEC_ENV_VAR
from selftaught.sandbox import MODES
from selftaught.tasks._secret import ENV_VAR as SECRET_ENV_VAR

LM_HELP = f"language model: {', '.join(AVAILABLE_SPECS)} (default mutate: offline, no model)"


FLAG_NAMES = "flag_names"  # the namespace attribute: config key (argparse dest) -> the flag that sets it


class UsageExit(SystemExit):
    """A usage mistake argparse found (a missing, unknown or malformed argument): exit status 2; `message`
    says what, in words a user knows (flags and commands, never argparse's internal names)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump, raised as UsageExit for `main` to print), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageExit(self._plain(message))

    def _plain(self, message: str) -> str:
        """argparse names a group of commands by its internal dest (`runs_command`); say `command` instead."""
        for action in self._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            name = argparse._get_action_name(action) or ""
            choices = ", ".join(action.choices)
            bad = re.fullmatch(rf"argument {re.escape(name)}: invalid choice: (.*?) \(choose from .*\)", message)
            if bad:
                return f"unknown command {bad.group(1)} for {self.prog} (choose from {choices})"
            required = "the following arguments are required: "
            if message.startswith(required) and name in message[len(required):].split(", "):
                return f"{self.prog} needs a command: {choices}"
            message = message.replace(f"argument {name}: ", f"{self.prog}: ")
        return message


def name_flags(parser: argparse.ArgumentParser) -> None:
    """Gives each command's parser a default `flag_names` (dest -> flag), for messages about a flag's value."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subcommands:
        for sub in action.choices.values():
            name_flags(sub)
    if not subcommands:
        flags = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
        parser.set_defaults(**{FLAG_NAMES: flags})


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_run_flags(p: argparse.ArgumentParser, *, task: bool = False) -> None:
    """Flags that map onto Config fields (None = not given: the config file or default applies)."""
    p.add_argument("--config", metavar="FILE", help="TOML config file (flags override it)")
    p.add_argument("--lm", metavar="SPEC", help=LM_HELP)
    p.add_argument("--seed", type=int, help="the run's seed (default 0)")
    add_secret_flag(p)
    if task:
        p.add_argument("--task", help="task name, alias or path to a task file (default parity_noise)")
    p.add_argument("--lm-budget", type=int, dest="lm_budget", help="LM calls per improver run (paper: 4)")
    p.add_argument("--max-responses", type=int, dest="max_responses_per_call", help="samples per LM call (paper: 6)")
    p.add_argument("--utility-budget", type=int, dest="utility_budget", help="utility calls per improver run (25)")
    p.add_argument("--downstream-runs", type=int, dest="downstream_runs",
                   help="improver runs averaged by the meta-utility (paper: 5)")
    p.add_argument("--workers", type=int, help="candidate evaluations in parallel (default: the core count)")
    p.add_argument("--executor", choices=("local", "ray"),
                   help="where candidate evaluations run: local (default) or ray (pip install 'selftaught[ray]')")
    p.add_argument("--ray-address", dest="ray_address", metavar="ADDR",
                   help="Ray cluster for --executor ray (default: start or join a local instance)")
    p.add_argument("--no-warm-workers", dest="warm_workers", action="store_false", default=None,
                   help="start a fresh sandbox per evaluation instead of forking warm ones (slower; same scores)")
    p.add_argument("--speculate", action="store_true", default=None,
                   help="score the code an improver's LM call returned before it asks (same results, sooner)")
    p.add_argument("--improver-timeout", type=float, dest="improver_timeout",
                   help="seconds one improver run may take (default 900)")
    p.add_argument("--memory-mb", type=int, dest="memory_mb", help="memory limit of each worker (default 4096)")
    lm = p.add_argument_group("language-model providers (openai:, anthropic:, ollama:, vllm:)")
    lm.add_argument("--base-url", dest="base_url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    lm.add_argument("--api-key-env", dest="api_key_env", help="environment variable holding the API key")
    lm.add_argument("--max-tokens", type=int, dest="max_tokens", help="most tokens per reply (default 2048)")
    lm.add_argument("--temperature", type=float, help="force this temperature (default: the improver's own)")
    lm.add_argument("--request-timeout", type=float, dest="request_timeout", help="seconds per request (120)")
    lm.add_argument("--max-retries", type=int, dest="max_retries", help="retries of 429/5xx/timeouts (5)")
    lm.add_argument("--concurrency", type=int,
                    help="provider requests, and downstream improver runs, in flight at once (8)")
    lm.add_argument("--cache", choices=("off", "record", "replay"),
                    help="LM cache: record (default: read, else call and store), replay (never call), off")
    lm.add_argument("--cache-path", dest="cache_path", help="SQLite cache file (default: user cache dir)")
    lm.add_argument("--max-usd", type=float, dest="max_usd", help="stop the run cleanly after this many dollars")
    lm.add_argument("--max-calls", type=int, dest="max_calls", help="stop the run cleanly after this many LM calls")
    add_sandbox_flag(p)
    add_output_flags(p)


def add_adoption_flags(p: argparse.ArgumentParser) -> None:
    """How a step's improver is adopted (`run`, `reproduce`): the paper's rule, or the gate (docs/statistics.md)."""
    p.add_argument("--adopt", choices=("always", "better"),
                   help="adopt each step's improver always (default: the paper's rule, when it runs and scores above "
                        "0) or only when it is better than the previous one by a paired test on fresh runs (p < 0.05)")
    p.add_argument("--gate-runs", type=int, dest="gate_runs", metavar="N",
                   help="fresh val downstream runs per improver for --adopt better (default 8, at least 6)")


def add_formulation_flags(p: argparse.ArgumentParser, *, iterate: bool = True) -> None:
    """The paper's other formulations (docs/formulations.md): `--maximizer`, and `--iterate K` on test-time commands."""
    g = p.add_argument_group("formulations (docs/formulations.md)")
    g.add_argument("--maximizer", action="store_true", default=None,
                   help="improver runs on a task start from the empty solution, not the task's seed solution "
                        "(the paper's maximizer formulation)")
    if iterate:
        g.add_argument("--iterate", type=int, metavar="K",
                       help="apply each improver K times (I^K), each pass from the previous pass's solution with "
                            "fresh samples and the full budgets per pass: K times the LM calls (default 1)")


def add_secret_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split-secret", dest="split_secret", metavar="SECRET",
                   help=f"the secret task instances are derived from (default: {SECRET_ENV_VAR}, else the file "
                   "in your config directory, made on first use); other local users can see command lines, so "
                   f"prefer {SECRET_ENV_VAR}")


def add_sandbox_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sandbox", choices=MODES, help="auto (default: bubblewrap if it works here, else warn), "
                   "strict (refuse without full isolation), process (reduced isolation)")


def config_from(args: argparse.Namespace, keys: tuple[str, ...] = CONFIG_KEYS) -> Config:
    """The config of a command: defaults, SELFTAUGHT_LM, the --config file, then the flags among `keys`.

    A bad value is refused in one line naming where it came from: the flag, the config file, or the variable.
    """
    overrides = {key: getattr(args, key, None) for key in keys}
    config_file = getattr(args, "config", None)
    try:
        config = build_config(overrides, config_file)
    except ConfigError as exc:
        raise ConfigError(_name_source(str(exc), overrides, args, config_file)) from None
    check_spec(config.lm, spec_source(getattr(args, "lm", None), config_file))  # names where a bad spec came from
    return config


def _name_source(message: str, overrides: dict[str, Any], args: argparse.Namespace, config_file: str | None) -> str:
    key = next((k for k in sorted(CONFIG_KEYS, key=len, reverse=True) if message.startswith(f"{k} ")), None)
    if key is None:
        return message
    rest = message[len(key):]
    if overrides.get(key) is not None:
        flags: dict[str, str] = getattr(args, FLAG_NAMES, None) or {}
        return flags.get(key, "--" + key.replace("_", "-")) + rest
    if key == "lm" and spec_source(getattr(args, "lm", None), config_file) == SPEC_ENV_VAR:
        return SPEC_ENV_VAR + rest
    if config_file is not None:
        return f"{message} (in the config file {config_file})"
    return message


class Reporter(BaseReporter):
    """Progress on stderr for people (silent under --json unless stderr is a terminal); warnings always."""

    def __init__(self, as_json: bool) -> None:
        super().__init__(on_warning=self._print_warning)
        self.enabled = not as_json or sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"[{elapsed:7.1f}s] {visible(message)}\n")
            sys.stderr.flush()

    def notice(self, text: str) -> None:
        if text and self.enabled:
            sys.stderr.write(f"note: {visible(text)}\n")

    @staticmethod
    def _print_warning(text: str) -> None:
        """A warning the user must see: printed on stderr even under --json."""
        sys.stderr.write(f"\n*** {visible(text)}\n\n")
        sys.stderr.flush()


def emit(as_json: bool, data: dict[str, Any], human: str) -> None:
    """The command's result on stdout: one JSON object, or text for people. Either way no control character a
    candidate put in its messages or output reaches the terminal raw (see `selftaught._text.visible`)."""
    if as_json:
        sys.stdout.write(json_safe(json.dumps(data, ensure_ascii=False)) + "\n")
    else:
        sys.stdout.write(visible(human.rstrip("\n")) + "\n")
