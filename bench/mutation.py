"""Mutation testing on demand: apply ast mutations one at a time in a private copy and see whether the tests fail."""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents"
TARGETS = ROOT / "bench" / "mutation_targets.toml"

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.LtE: ast.Gt, ast.Gt: ast.LtE,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_SYMBOL: dict[type[ast.cmpop], str] = {
    ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<=", ast.Gt: ">", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}
_DELETABLE = (ast.Assign, ast.AugAssign, ast.Raise, ast.Return)
_ANNOTATION_FIELDS = {(ast.AnnAssign, "annotation"), (ast.arg, "annotation"),
                      (ast.FunctionDef, "returns"), (ast.AsyncFunctionDef, "returns")}


@dataclass
class Mutant:
    """One mutation site: `index` is its position in the deterministic walk of the module's tree."""

    module: str
    index: int
    line: int
    col: int
    description: str
    status: str = "not run"  # killed | survived | timeout | equivalent | not run
    reason: str = ""


@dataclass
class ModuleResult:
    module: str
    tests: list[str]
    timeout: float
    baseline_seconds: float
    source_sha256: str = ""
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(m.status == status for m in self.mutants)

    @property
    def score(self) -> float | None:
        denominator = len(self.mutants) - self.count("equivalent")
        return (self.count("killed") + self.count("timeout")) / denominator if denominator else None


def _short(node: ast.AST, limit: int = 40) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_docstring(parent: ast.AST, name: str, index: int | None, node: ast.AST) -> bool:
    return (index == 0 and name == "body"
            and isinstance(parent, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _is_skipped_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` and `if __name__ == "__main__":` blocks are not mutated."""
    if not isinstance(node, ast.If):
        return False
    test = ast.unparse(node.test)
    return test in {"TYPE_CHECKING", "typing.TYPE_CHECKING"} or ("__name__" in test and "__main__" in test)


def _candidates(parent: ast.AST, name: str, index: int | None,
                node: ast.AST) -> Iterator[tuple[str, Callable[[], None]]]:
    """The mutations of `node` (found at `parent.name[index]`), each as (description, apply)."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            flipped = _FLIP[type(op)]
            yield (f"`{_SYMBOL[type(op)]}` -> `{_SYMBOL[flipped]}`",
                   functools.partial(node.ops.__setitem__, i, flipped()))
    elif isinstance(node, ast.BoolOp):
        old, new = ("and", ast.Or) if isinstance(node.op, ast.And) else ("or", ast.And)
        yield f"`{old}` -> `{'or' if old == 'and' else 'and'}`", lambda: setattr(node, "op", new())
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value: float = node.value  # type: ignore[assignment]  # an int or a float, as just checked
        seen = {value}
        for new_value in (value + 1, value - 1, 0):
            new_value = round(new_value, 12) if isinstance(new_value, float) else new_value
            if new_value in seen:
                continue
            seen.add(new_value)
            yield f"{value!r} -> {new_value!r}", functools.partial(setattr, node, "value", new_value)
    if isinstance(node, ast.If | ast.While):
        keyword = "if" if isinstance(node, ast.If) else "while"
        yield (f"negate `{keyword} {_short(node.test, 30)}`",
               lambda: setattr(node, "test", ast.UnaryOp(op=ast.Not(), operand=node.test)))
    if isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        yield f"`{_short(node, 30)}` -> `return None`", lambda: setattr(node, "value", None)
    deletable = isinstance(node, _DELETABLE) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call))
    if deletable and index is not None and not _is_docstring(parent, name, index, node):
        body = getattr(parent, name)
        yield f"delete `{_short(node)}`", lambda: body.__setitem__(index, ast.copy_location(ast.Pass(), node))


def _walk(tree: ast.Module, visit: Callable[[ast.AST, str, Callable[[], None]], bool]) -> None:
    """Calls `visit(node, description, apply)` for each mutation in a fixed order; stops when it returns True."""

    def recurse(node: ast.AST) -> bool:
        for name, value in ast.iter_fields(node):
            if (type(node), name) in _ANNOTATION_FIELDS:
                continue
            children = [(i, child) for i, child in enumerate(value)] if isinstance(value, list) else [(None, value)]
            for i, child in children:
                if not isinstance(child, ast.AST) or _is_skipped_block(child):
                    continue
                if isinstance(child, ast.AnnAssign) and child.value is None:
                    continue  # a bare annotation
                for description, apply in list(_candidates(node, name, i, child)):
                    if visit(child, description, apply):
                        return True
                if recurse(child):
                    return True
        return False

    recurse(tree)


def list_mutants(module: str, source: str) -> list[Mutant]:
    mutants: list[Mutant] = []

    def record(node: ast.AST, description: str, _apply: Callable[[], None]) -> bool:
        mutants.append(Mutant(module, len(mutants), getattr(node, "lineno", 0), getattr(node, "col_offset", 0),
                              description))
        return False

    _walk(ast.parse(source), record)
    return mutants


def mutate(source: str, index: int) -> str:
    """`source` with mutation number `index` applied (numbered as by `list_mutants`)."""
    tree = ast.parse(source)
    counter = 0

    def maybe_apply(_node: ast.AST, _description: str, apply: Callable[[], None]) -> bool:
        nonlocal counter
        if counter == index:
            apply()
            return True
        counter += 1
        return False

    _walk(tree, maybe_apply)
    mutated = ast.unparse(ast.fix_missing_locations(tree))
    compile(mutated, "<mutant>", "exec")
    return mutated


def default_tests(module: Path) -> list[Path]:
    """Tests whose file name contains the module's stem, in the mirrored tests dir or, failing that, its parents."""
    stem = module.stem.lstrip("_")
    relative = module.resolve().relative_to(ROOT / "src" / "selftaught").parent
    directory = ROOT / "tests" / relative
    while True:
        if directory.is_dir():
            found = sorted(p for p in directory.rglob(f"test_*{stem}*.py"))
            if found:
                return found
        if directory == ROOT / "tests":
            return []
        directory = directory.parent


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    """('passed' | 'failed' | 'timeout', seconds) for the tests run in the private copy."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout", time.monotonic() - start
    finally:
        if process.poll() is None:  # interrupted: leave no process group behind
            os.killpg(process.pid, signal.SIGKILL)
    return ("passed" if code == 0 else "failed"), time.monotonic() - start


def load_equivalents(path: Path) -> list[dict[str, Any]]:
    """The `[[equivalent]]` tables of a TOML file, or of every `*.toml` file in a directory."""
    if not path.exists():
        return []
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    return [entry for f in files for entry in tomllib.loads(f.read_text()).get("equivalent", [])]


def load_targets(path: Path) -> list[tuple[Path, list[Path]]]:
    """The trust-critical modules and the tests that guard each, from `[[target]]` tables."""
    return [(ROOT / t["module"], [ROOT / test for test in t["tests"]])
            for t in tomllib.loads(path.read_text()).get("target", [])]


def load_previous(path: Path | None) -> dict[str, dict[str, Any]]:
    """Module name -> its result in an earlier `--json` file, for `--rerun`."""
    if path is None:
        return {}
    return {m["module"]: m for m in json.loads(path.read_text())["modules"]}


def is_equivalent(mutant: Mutant, equivalents: list[dict[str, Any]]) -> str | None:
    for entry in equivalents:
        if (entry.get("module") == mutant.module and entry.get("line") == mutant.line
                and entry.get("description") == mutant.description
                and entry.get("col", mutant.col) == mutant.col):
            return str(entry.get("reason", ""))
    return None


def make_copy(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def carried_over(mutants: list[Mutant], previous: dict[str, Any] | None, source: str) -> set[int]:
    """Marks the mutants an earlier run of the same source killed (or timed out) and returns their indexes.

    Tests are only ever added, so a kill stands; survivors and unrun mutants run again."""
    if previous is None:
        return set()
    if previous.get("source_sha256") != hashlib.sha256(source.encode()).hexdigest():
        sys.exit(f"error: {previous['module']} changed since the run given to --rerun; run it in full")
    done = {m["index"]: m["status"] for m in previous["mutants"] if m["status"] in ("killed", "timeout")}
    for m in mutants:
        if m.index in done:
            m.status = done[m.index]
    return set(done)


def run_module(module: Path, tests: list[Path], copy: Path, args: argparse.Namespace,
               equivalents: list[dict[str, Any]], previous: dict[str, Any] | None = None) -> ModuleResult:
    name = module.resolve().relative_to(ROOT).as_posix()
    test_names = [t.resolve().relative_to(ROOT).as_posix() for t in tests]
    source = module.read_text()
    mutants = list_mutants(name, source)
    if args.max is not None and len(mutants) > args.max:
        mutants = sorted(random.Random(f"{args.seed}:{name}").sample(mutants, args.max), key=lambda m: m.index)
    if previous is not None and not args.extend:
        ran = {m["index"] for m in previous["mutants"]}
        mutants = [m for m in mutants if m.index in ran]
    skip = carried_over(mutants, previous, source)
    print(f"{name}: {len(mutants)} mutants ({len(skip)} killed before), tests: {' '.join(test_names)}",
          flush=True)
    if args.list:
        for m in mutants:
            print(f"  {name}:{m.line}:{m.col}: {m.description}")
        return ModuleResult(name, test_names, 0.0, 0.0, mutants=mutants)

    status, seconds = run_tests(copy, test_names, timeout=max(600.0, args.timeout or 0.0))
    if status != "passed":
        sys.exit(f"error: the unmutated tests {status} for {name} ({' '.join(test_names)}); a kill would mean nothing")
    timeout = args.timeout or max(30.0, 10 * seconds)
    result = ModuleResult(name, test_names, timeout, round(seconds, 2),
                          hashlib.sha256(source.encode()).hexdigest(), mutants)
    target = copy / name
    try:
        for done, m in enumerate(mutants, 1):
            if m.index in skip:
                continue
            target.write_text(mutate(source, m.index))
            outcome, took = run_tests(copy, test_names, timeout)
            m.status = {"failed": "killed", "passed": "survived", "timeout": "timeout"}[outcome]
            reason = is_equivalent(m, equivalents) if m.status == "survived" else None
            if reason is not None:
                m.status, m.reason = "equivalent", reason
            print(f"  [{done}/{len(mutants)}] {m.status:<10} {took:6.1f}s {name}:{m.line}: {m.description}",
                  file=sys.stderr, flush=True)
    finally:
        target.write_text(source)
    return result


def print_table(results: list[ModuleResult]) -> None:
    header = f"{'module':<45} {'tried':>5} {'killed':>6} {'surv':>5} {'t/o':>4} {'equiv':>5} {'score':>6}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        score = "-" if r.score is None else f"{r.score:.0%}"
        print(f"{r.module:<45} {len(r.mutants):>5} {r.count('killed'):>6} {r.count('survived'):>5} "
              f"{r.count('timeout'):>4} {r.count('equivalent'):>5} {score:>6}")
    for r in results:
        survivors = [m for m in r.mutants if m.status == "survived"]
        if survivors:
            print(f"\nsurvivors in {r.module}:")
            for m in survivors:
                print(f"  {r.module}:{m.line}:{m.col}: {m.description}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("modules", nargs="*", type=Path,
                        help="source files under src/selftaught (default: every module in --targets)")
    parser.add_argument("--targets", type=Path, default=TARGETS,
                        help="TOML file naming the trust-critical modules and their tests")
    parser.add_argument("--rerun", type=Path, metavar="JSON",
                        help="run again only what survived in this earlier --json result; its kills stand")
    parser.add_argument("--extend", action="store_true",
                        help="with --rerun: also run the mutants the earlier (sampled) run did not try")
    parser.add_argument("--tests", nargs="+", type=Path, help="test files to run (default: mapped by module name)")
    parser.add_argument("--max", type=int, help="sample at most N mutants per module (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, help="seconds per mutant run (default: 10x baseline, min 30)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to FILE")
    parser.add_argument("--list", action="store_true", help="print the mutants without running them")
    parser.add_argument("--equivalents", type=Path, default=EQUIVALENTS)
    args = parser.parse_args(argv)
    # A stopped run (SIGTERM, or SIGINT under nohup) still kills its test process and removes its private copy.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    equivalents = load_equivalents(args.equivalents)
    targets = {module.resolve(): tests for module, tests in load_targets(args.targets)} if args.targets.exists() else {}
    modules = args.modules or list(targets)
    if not modules:
        sys.exit(f"error: no modules given and no targets in {args.targets}")
    previous = load_previous(args.rerun)
    started = time.monotonic()
    results: list[ModuleResult] = []
    with tempfile.TemporaryDirectory(prefix="selftaught-mutation-") as temp:
        copy = make_copy(Path(temp)) if not args.list else Path(temp)
        for module in modules:
            tests = args.tests or targets.get(module.resolve()) or default_tests(module)
            if not tests:
                sys.exit(f"error: no tests found for {module}; pass --tests")
            name = module.resolve().relative_to(ROOT).as_posix()
            if args.rerun is not None and name not in previous:
                sys.exit(f"error: {name} is not in {args.rerun}")
            results.append(run_module(module, tests, copy, args, equivalents, previous.get(name)))
    elapsed = time.monotonic() - started
    if not args.list:
        print_table(results)
        print(f"\n{elapsed:.0f}s")
    if args.json:
        payload = [{**{k: v for k, v in asdict(r).items() if k != "mutants"}, "score": r.score,
                    "tried": len(r.mutants), "killed": r.count("killed"), "survived": r.count("survived"),
                    "timed_out": r.count("timeout"), "equivalent": r.count("equivalent"),
                    "mutants": [asdict(m) for m in r.mutants]} for r in results]
        args.json.write_text(json.dumps({"seconds": round(elapsed, 1), "modules": payload}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
