"""What every command sets up: its backend, sandbox and services, and the program files it reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught._ast import parse_python
from selftaught._entrypoint import entrypoint_problem
from selftaught._files import read_capped
from selftaught.api._reporting import Reporter
from selftaught.broker import Services
from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.execute import Executor
from selftaught.improver import improver_names, improver_program
from selftaught.lm import Backend, ScriptedBackend, parse_backend
from selftaught.lm._journal import JournalBackend
from selftaught.lm.usage import UsageMeter
from selftaught.sandbox import Limits, LimitsTooSmall, Sandbox, SandboxChoice, select_sandbox
from selftaught.store import RunStore
from selftaught.tasks import Task

MAX_PROGRAM_BYTES = 1 << 20  # a program file (solution, improver); the paper's are a few kB


def backend_for(config: Config, reporter: Reporter) -> Backend:
    backend = parse_backend(config.lm, config)
    reporter.notice(backend.notice)
    return backend


def backend_warnings(backend: Backend) -> list[str]:
    """What the user should know about how the backend answered (e.g. scripted replies that matched nothing)."""
    while isinstance(getattr(backend, "inner", None), Backend):  # a journal or cache around it
        backend = backend.inner  # type: ignore[attr-defined]
    if isinstance(backend, ScriptedBackend) and backend.unmatched:
        return [f"{backend.unmatched} LM request(s) matched no entry of {backend.source}: their replies only say so "
                "(check the entries' \"match\" strings)"]
    return []


def sandbox_for(mode: str | None, reporter: Reporter, limits: Limits | None = None,
                memory_flag: str = "--memory-mb") -> SandboxChoice:
    """The sandbox for this command; a reduced-isolation fallback is announced every time.

    Limits too small for a worker to start are refused in one line naming `memory_flag`.
    """
    try:
        choice = select_sandbox(mode or "auto", limits or Limits())
    except LimitsTooSmall as exc:
        raise UserError(exc.message(memory_flag)) from None
    reporter.warn(choice.warning)
    return choice


def sandbox_record(choice: SandboxChoice) -> dict[str, Any]:
    return {"name": choice.sandbox.name, "isolated": choice.sandbox.isolated, "warning": choice.warning}


@dataclass(frozen=True)
class Shared:
    """What the runs of a study share: one backend (one LM concurrency limit), one sandbox, one executor, one pool
    of improvers' workers, and one usage meter (the study's spending, which --max-usd and --max-calls cap). Whoever
    made them closes them."""

    backend: Backend | None = None
    sandbox: SandboxChoice | None = None
    executor: Executor | None = None
    improvers: Sandbox | None = None
    usage: UsageMeter | None = None


def services_for(config: Config, reporter: Reporter, store: RunStore | None = None, *,
                 shared: Shared | None = None) -> Services:
    """The services of a command; with a run store, the backend is journaled into the run directory (see
    `JournalBackend`: what `run --resume` replays).

    `shared`: what other runs of a study share with this one (seeds at once: one LM concurrency limit, one pool of
    evaluation workers, one of improvers' workers, one account); the caller closes what it shares.
    """
    shared = shared or Shared()
    backend = shared.backend
    inner = backend if backend is not None else backend_for(config, reporter)
    if store is not None:
        inner = JournalBackend(inner, store.root / "lm-cache.sqlite", {"max_tokens": config.max_tokens},
                               owns_inner=backend is None)
    choice = shared.sandbox if shared.sandbox is not None else sandbox_for(config.sandbox, reporter,
                                                                            Limits(memory_mb=config.memory_mb))
    return Services(config, inner, store=store, sandbox=choice, progress=reporter, executor=shared.executor,
                    usage_parent=shared.usage, shared_executor=shared.executor is not None,
                    improvers=shared.improvers)


def read_program(path: str, what: str) -> str:
    """Reads a program file, refusing missing, unreadable, oversized or unparsable files with one line."""
    text = read_capped(path, what, MAX_PROGRAM_BYTES)
    return check_program(text, what, path)


def read_improver(ref: str, missing: str = "improver file not found") -> str:
    """An improver program: the file `ref`, else the library improver named `ref` (a file of that name wins); neither
    is refused in one line (`{missing}: {ref}`) that lists the library's names."""
    if not Path(ref).exists():
        if ref in improver_names():
            return improver_program(ref)
        raise UserError(f"{missing}: {ref}, and no library improver is called that (the library: "
                        f"{', '.join(improver_names())}; see selftaught improvers)")
    return read_program(ref, "improver")


def check_program(text: str, what: str, name: str) -> str:
    """`text` if it is a Python program; else one line naming `what` and `name` (its file)."""
    if "\x00" in text:
        raise UserError(f"{what} file {name} is not valid Python (it holds a NUL byte)")
    try:
        parse_python(text)
    except SyntaxError as exc:
        raise UserError(f"{what} file {name} is not valid Python (line {exc.lineno}: {exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UserError(f"{what} file {name} is not valid Python ({type(exc).__name__})") from None
    return text


def require_entrypoint(program: str, name: str, path: str) -> None:
    """Refuses a program whose module level does not bind `name` to something that may be a function: no binding,
    or a literal value (`algorithm = 5`). Checked by parsing, not running; every command applies this one rule."""
    problem = entrypoint_problem(parse_python(program), name)
    if problem is not None:
        raise UserError(f"{path} {problem}")


def task_line(task: Task) -> str:
    lines = task.description.strip().splitlines()
    return str(task.summary or (lines[0][:80] if lines else ""))
