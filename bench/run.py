"""Benchmark of sandboxed scoring, one STOP iteration against a latency-injecting server, and evaluation throughput."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from latency_server import LatencyServer
from warm_cost import rows as warm_rows
from warm_cost import warm_cost

from selftaught.config import Config
from selftaught.evaluate import evaluate, worker_seed
from selftaught.execute import make_executor
from selftaught.sandbox import BwrapSandbox, WarmPool
from selftaught.store import read_events
from selftaught.tasks import SplitSecret, Task, get_task

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench/run.py -->", "<!-- /bench/run.py -->"
SOLVER = (ROOT / "tests" / "data" / "parity_solver.py").read_text()
#: A fixed split secret: every figure is measured on the same instances, and the user's secret is not touched.
SECRET_TEXT = "selftaught-bench"
KEY_ENV = "SELFTAUGHT_BENCH_API_KEY"
#: The STOP iteration's budgets under --quick (without it: the CLI's defaults, the paper's).
QUICK_BUDGETS = {"--downstream-runs": "2", "--max-responses": "3", "--utility-budget": "6",
                 "--meta-utility-budget": "4"}
SEQUENTIAL = ["--workers", "1", "--concurrency", "1"]
#: The parts of the benchmark (`--only` picks some), in the order they run.
PARTS = ("lpn", "stop", "throughput", "warm", "seeds")
PART_KEYS = {"lpn": "lpn_scoring", "stop": "stop_iteration", "throughput": "throughput", "warm": "warm_cost",
             "seeds": "seeds_at_once"}
#: docs/benchmarks.md holds two blocks of this benchmark: the first three parts (rewritten only when all three ran)
#: and the warm evaluation's, each with its own header line.
MAIN_PARTS = ("lpn", "stop", "throughput")
WARM_BEGIN, WARM_END = "<!-- bench/run.py warm -->", "<!-- /bench/run.py warm -->"

Row = tuple[str, str]


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return {"cores": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "selftaught_commit": commit + ("+dirty" if dirty else ""),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or bottom is None or bottom <= 0 else round(top / bottom, 3)


# -- 1. LPN scoring: in process, sandboxed cold, sandboxed warm ----------------------------------------------


def in_process_seconds(task: Task, program: str, secret: SplitSecret) -> tuple[float, float]:
    """The solver's `algorithm` called on each val instance in this process and scored by the task's scorer."""
    namespace: dict[str, Any] = {"__name__": "candidate"}
    exec(compile(program, "<solver>", "exec"), namespace)
    algorithm = namespace[task.entrypoint]
    instances = task.instances("val", secret)
    started = time.perf_counter()
    scores = []
    for instance in instances:
        t = time.process_time()
        output = algorithm(*instance.args)
        scores.append(task.clip(task.checked_score(instance, output, time.process_time() - t)))
    return time.perf_counter() - started, sum(scores) / len(scores)


def sandboxed_seconds(task: Task, program: str, secret: SplitSecret, sandbox: Any) -> tuple[float, float]:
    started = time.perf_counter()
    result = evaluate(task, program, "val", sandbox=sandbox, secret=secret)
    took = time.perf_counter() - started
    if result.failure or result.failures:
        raise RuntimeError(f"the solver failed in the sandbox: {result.failure} {result.failures} {result.detail}")
    return took, result.score


def lpn_scoring(repeats: int, secret: SplitSecret) -> dict[str, Any]:
    task = get_task("parity_noise")
    in_process_seconds(task, SOLVER, secret)  # numpy warmed up, instances made
    inproc = [in_process_seconds(task, SOLVER, secret) for _ in range(repeats)]
    box = BwrapSandbox()
    sandboxed_seconds(task, SOLVER, secret, box)  # page cache warm: a cold worker, not a cold disk
    cold = [sandboxed_seconds(task, SOLVER, secret, box) for _ in range(repeats)]
    out: dict[str, Any] = {
        "task": task.name, "instances": len(task.instances("val", secret)), "repeats": repeats,
        "in_process_s": round(_median([t for t, _ in inproc]), 4),
        "cold_s": round(_median([t for t, _ in cold]), 4),
        "scores": sorted({round(s, 4) for _, s in inproc + cold}),
    }
    out["cold_ratio"] = _ratio(out["cold_s"], out["in_process_s"])
    pool = WarmPool(BwrapSandbox(), size=2)
    try:
        sandboxed_seconds(task, SOLVER, secret, pool)  # the pool's zygotes started
        warm = [sandboxed_seconds(task, SOLVER, secret, pool) for _ in range(repeats)]
    finally:
        pool.close()
    out["warm_s"] = round(_median([t for t, _ in warm]), 4)
    out["scores"] = sorted({round(s, 4) for _, s in inproc + cold + warm})
    out["warm_ratio"] = _ratio(out["warm_s"], out["in_process_s"])
    out["warm_speedup_vs_cold"] = _ratio(out["cold_s"], out["warm_s"])
    out["warm_note"] = "`evaluate` through WarmPool(BwrapSandbox(), size=2) (a forked child per evaluation)"
    return out


# -- 2. One STOP iteration against the latency server -------------------------------------------------------


def critical_round_trips(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The fewest sequential LM round trips of a one-iteration run, from its `improver_run` events.

    measure I_0 (its downstream runs in parallel: the most LM calls of one) + the meta-level run's own LM
    calls + for each candidate it scored, in turn, the most LM calls of one of its `select` downstream runs
    (a candidate seen twice is served from the cache; one that crashed before asking costs none) +
    measure I_1 (when the iteration produced one). Assumes the improver scores candidates one after
    another, as the seed improver's `max(candidates, key=utility)` does.
    """
    runs = [e for e in events if e.get("kind") == "improver_run"]

    def most(prefix: str, iteration: int) -> int:
        calls = [int(e.get("lm_calls") or 0) for e in runs
                 if e.get("iteration") == iteration and str(e.get("stream", "")).startswith(prefix)]
        return max(calls, default=0)

    measure = {t: most("measure/", t) for t in (0, 1)}
    meta = [e for e in runs if e.get("level") == "meta" and e.get("iteration") == 1]
    meta_calls = int(meta[0].get("lm_calls") or 0) if meta else 0
    candidates: dict[str, int] = {}  # digest -> most LM calls of one of its select runs
    for e in runs:
        stream = str(e.get("stream", ""))
        if e.get("iteration") == 1 and stream.startswith("select/"):
            digest = stream.split("/")[1]
            candidates[digest] = max(candidates.get(digest, 0), int(e.get("lm_calls") or 0))
    total = measure[0] + meta_calls + sum(candidates.values()) + measure[1]
    return {"round_trips": total, "measure_I0": measure[0], "meta_run": meta_calls,
            "candidates_scored": len(candidates), "candidate_round_trips": sum(candidates.values()),
            "measure_I1": measure[1],
            "meta_utility_calls": int(meta[0].get("utility_calls") or 0) if meta else 0,
            "lm_calls_recorded": sum(1 for e in events if e.get("kind") == "lm_call")}


def bench_env() -> dict[str, str]:
    """The environment of a `selftaught` subprocess driven against the latency server: this checkout's code, the
    bench's split secret and key, and no proxy or base URL of the user's in the way."""
    env = {**os.environ, KEY_ENV: "dummy-bench-key", "SELFTAUGHT_SPLIT_SECRET": SECRET_TEXT,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    for name in ("OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        env.pop(name, None)
    return env


def timed_run(server: LatencyServer, runs_dir: str, extra: list[str], env: dict[str, str]) -> tuple[float, Any]:
    """`selftaught run --iterations 1 --json` on LPN against the server, into `runs_dir`: its wall time and output."""
    command = [sys.executable, "-m", "selftaught", "run", "--task", "parity_noise", "--iterations", "1",
               "--lm", "openai:mutate-over-http", "--base-url", server.url, "--api-key-env", KEY_ENV,
               "--cache", "off", "--json", "--runs-dir", runs_dir, "--seed", "0", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"selftaught run failed ({done.returncode}): {done.stderr[-1500:]}")
    return wall, json.loads(done.stdout)


def stop_once(server: LatencyServer, latency: float, extra: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One `selftaught run --iterations 1` against the server at `latency`: wall time, requests, the run's records."""
    server.latency = latency
    server.reset()
    with tempfile.TemporaryDirectory(prefix="selftaught-bench-") as runs_dir:
        wall, summary = timed_run(server, runs_dir, extra, env)
        events = read_events(Path(summary["run_dir"]))
    iterations = summary.get("iterations") or []
    return {"wall_s": round(wall, 3), **server.summary(), "path": critical_round_trips(events),
            "outcome": [(i.get("improver"), round(i.get("meta_utility_val") or 0.0, 6),
                         round(i.get("meta_utility_test") or 0.0, 6)) for i in iterations]}


def stop_iteration(latency: float, quick: bool, repeats: int) -> dict[str, Any]:
    """Each configuration `repeats` times at `latency` and at 0, interleaved (so a busy spell hits both alike)."""
    budgets = [x for pair in QUICK_BUDGETS.items() for x in pair] if quick else []
    env = bench_env()
    configs = {"parallel": budgets, "sequential": budgets + SEQUENTIAL, "speculating": [*budgets, "--speculate"]}
    out: dict[str, Any] = {
        "latency_s": latency,
        "repeats": repeats,
        "budgets": " ".join(budgets) if quick else "the CLI's defaults (the paper's: 5 downstream runs, 4 LM calls "
                                                    "x 6 responses, utility 25, meta-utility 25)",
        "compute_estimate": "the least wall time of the same iteration at latency 0 (same replies; either "
                            "configuration, any repeat)",
    }
    runs: dict[str, dict[float, list[dict[str, Any]]]] = {name: {0.0: [], latency: []} for name in configs}
    with LatencyServer(latency) as server:
        for _ in range(repeats):
            for name, extra in configs.items():
                for at in (0.0, latency):
                    runs[name][at].append(stop_once(server, at, extra, env))
    compute = min(r["wall_s"] for name in configs for r in runs[name][0.0])
    out["compute_s"] = compute
    for name, extra in configs.items():
        timed, zero = runs[name][latency], runs[name][0.0]
        fewest = min(timed, key=lambda r: r["path"]["round_trips"])
        item: dict[str, Any] = {
            "flags": " ".join(extra[len(budgets):]) or "defaults",
            "wall_s": round(_median([r["wall_s"] for r in timed]), 3),
            "wall_s_runs": [r["wall_s"] for r in timed],
            "wall_latency0_s": round(_median([r["wall_s"] for r in zero]), 3),
            "wall_latency0_s_runs": [r["wall_s"] for r in zero],
            "requests": sorted({r["requests"] for r in timed}),
            "max_in_flight": max(r["max_in_flight"] for r in timed),
            "errors": sum(r["errors"] for r in timed),
            **fewest["path"],
            "round_trips_runs": [r["path"]["round_trips"] for r in timed],
            "same_outcome_as_latency0": all(r["outcome"] == zero[0]["outcome"] for r in timed + zero),
        }
        item["critical_path_s"] = round(item["round_trips"] * latency + compute, 3)
        item["critical_path_ratio"] = _ratio(item["wall_s"], item["critical_path_s"])
        out[name] = item
    out["parallel_speedup"] = _ratio(out["sequential"]["wall_s"], out["parallel"]["wall_s"])
    out["speculation_speedup"] = _ratio(out["parallel"]["wall_s"], out["speculating"]["wall_s"])
    return out


# -- 3. Evaluation throughput -------------------------------------------------------------------------------


def variants(count: int) -> list[str]:
    """`count` distinct small variants of the brute-force solver (a constant, and which of tied secrets wins)."""
    programs = []
    for i in range(count):
        body = SOLVER if i % 2 == 0 else SOLVER.replace("errors < best_errors", "errors <= best_errors")
        programs.append(f"VARIANT = {i}\n{body}")
    return programs


def throughput_run(evaluate_one: Callable[[str], float], programs: list[str]) -> tuple[float, list[float]]:
    """Evaluations per second with every program submitted at once from a thread pool (the executor bounds them)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(programs)) as pool:
        scores = list(pool.map(evaluate_one, programs))
    return len(programs) / (time.perf_counter() - started), scores


def throughput(count: int, secret: SplitSecret, worker_counts: tuple[int, ...] = (1, 2, 4)) -> dict[str, Any]:
    task = get_task("parity_noise")
    out: dict[str, Any] = {"task": task.name, "split": "val", "programs": count}
    scores: set[float] = set()
    rates: dict[int, float] = {}
    for workers in worker_counts:
        executor = make_executor(Config(workers=workers), BwrapSandbox())  # the default: warm workers
        try:
            rate, got = throughput_run(
                lambda p, ex=executor: ex.evaluate(task, p, "val", seed=worker_seed(0, p), secret=secret).score,
                variants(count))
        finally:
            executor.close()
        rates[workers] = rate
        scores.update(round(s, 4) for s in got)
        out[f"local_{workers}_per_s"] = round(rate, 2)
    for workers in worker_counts[1:]:
        out[f"speedup_{workers}_vs_{worker_counts[0]}"] = _ratio(rates[workers], rates[worker_counts[0]])
    out["scores"] = sorted(scores)
    out["ray"] = ray_throughput(count, secret, task, rates)
    return out


def ray_throughput(count: int, secret: SplitSecret, task: Task, local: dict[int, float]) -> dict[str, Any]:
    """The same programs through the Ray executor on a local instance (Ray's scheduler runs one evaluation per CPU,
    so there is no worker count to vary: compare with the local executor at the cluster's CPU count)."""
    try:
        from selftaught.execute._ray import RayExecutor
    except ImportError as exc:
        return {"available": False, "note": f"not available: {exc}"}
    try:
        executor = RayExecutor(Config(executor="ray"))
    except Exception as exc:
        return {"available": False, "note": f"not available: RayExecutor failed to start: {exc!s:.200}"}
    try:
        cpus = executor.workers
        executor.evaluate(task, SOLVER, "val", seed=0, secret=secret)  # the instance and a Ray worker up
        rate, _ = throughput_run(
            lambda p: executor.evaluate(task, p, "val", seed=worker_seed(0, p), secret=secret).score, variants(count))
    finally:
        executor.close()
    out: dict[str, Any] = {"available": True, "cpus": cpus, "ray_per_s": round(rate, 2)}
    if cpus in local:
        out[f"ray_vs_local_{cpus}_ratio"] = _ratio(rate, local[cpus])
    return out


# -- Output -------------------------------------------------------------------------------------------------


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}{unit}" if abs(value) < 100 else f"{value:.0f}{unit}"
    return f"{value}{unit}"


def rows(report: dict[str, Any]) -> list[Row]:
    """The table's rows of the parts that ran."""
    out: list[Row] = []
    if "lpn_scoring" in report:
        out += lpn_rows(report["lpn_scoring"])
    if "stop_iteration" in report:
        out += stop_rows(report["stop_iteration"])
    if "throughput" in report:
        out += throughput_rows(report["throughput"])
    if "warm_cost" in report:
        out += warm_rows(report["warm_cost"])
    if "seeds_at_once" in report:
        k = report["seeds_at_once"]
        out += [("seeds_at_once.ratio", f"{_num(k['ratio'], 'x')}: {k['k']} seeds at once ({k['k_seeds_s']} s) / one "
                                         f"seed ({k['one_seed_s']} s) at {k['latency_s']:g} s a request (goal <= 1.3)"),
                ("seeds_at_once.floor_ratio", f"{_num(k['floor_ratio'], 'x')}: the {k['k']} seeds' compute at "
                                              f"latency 0 ({k['k_seeds_latency0_s']} s) / one seed")]
    return out


def lpn_rows(lpn: dict[str, Any]) -> list[Row]:
    out: list[Row] = [
        ("lpn_scoring.in_process_s", f"{_num(lpn['in_process_s'], ' s')}: brute-force solver on "
                                     f"{lpn['instances']} val instances, median of {lpn['repeats']}"),
        ("lpn_scoring.cold_s", f"{_num(lpn['cold_s'], ' s')}: `evaluate` in BwrapSandbox (a fresh worker)"),
        ("lpn_scoring.cold_ratio", _num(lpn["cold_ratio"], "x")),
        ("lpn_scoring.warm_s", f"{_num(lpn['warm_s'], ' s')}: {lpn['warm_note']}"),
        ("lpn_scoring.warm_ratio", _num(lpn["warm_ratio"], "x")),
    ]
    if lpn.get("warm_speedup_vs_cold") is not None:
        out.append(("lpn_scoring.warm_speedup_vs_cold", _num(lpn["warm_speedup_vs_cold"], "x")))
    return out


def stop_rows(stop: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    out.append(("stop_iteration budgets", f"{stop['budgets']}; latency {stop['latency_s']:g} s per request"))
    for name in ("parallel", "sequential", "speculating"):
        item = stop[name]
        key = f"stop_iteration.{name}"
        out += [
            (f"{key}.wall_s", f"{_num(item['wall_s'], ' s')} ({item['flags']}; median of {stop['repeats']}); at "
                              f"latency 0: {_num(item['wall_latency0_s'], ' s')}; same result at both: "
                              f"{'yes' if item['same_outcome_as_latency0'] else 'no'}"),
            (f"{key}.requests / max_in_flight", f"{'/'.join(map(str, item['requests']))} / {item['max_in_flight']}"),
            (f"{key}.round_trips", f"{item['round_trips']} = measure I_0 {item['measure_I0']} + I_0's batch "
                                   f"{item['meta_run']} + {item['candidates_scored']} candidates scored "
                                   f"{item['candidate_round_trips']} + measure I_1 {item['measure_I1']}"),
            (f"{key}.critical_path_s", f"{_num(item['critical_path_s'], ' s')} = {item['round_trips']} x "
                                       f"{stop['latency_s']:g} s + {_num(stop['compute_s'], ' s')} compute"),
            (f"{key}.critical_path_ratio", _num(item["critical_path_ratio"], "x")),
        ]
    out.append(("stop_iteration.parallel_speedup", _num(stop["parallel_speedup"], "x")))
    out.append(("stop_iteration.speculation_speedup", _num(stop["speculation_speedup"], "x")))
    return out


def throughput_rows(tp: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    counts = [k.split("_")[1] for k in tp if k.startswith("local_") and k.endswith("_per_s")]
    out.append(("throughput.local (evaluations/s)",
                ", ".join(f"{w} worker{'s' if w != '1' else ''}: {_num(tp[f'local_{w}_per_s'])}" for w in counts)
                + f" ({tp['programs']} distinct solver variants on {tp['task']} {tp['split']})"))
    out += [(f"throughput.{k}", _num(v, "x")) for k, v in tp.items() if k.startswith("speedup_")]
    ray = tp["ray"]
    if ray.get("available"):
        out.append(("throughput.ray.ray_per_s", f"{_num(ray['ray_per_s'])} evaluations/s (a local Ray instance, "
                                                f"{ray['cpus']} CPUs, one evaluation per CPU)"))
        out += [(f"throughput.ray.{k}", _num(v, "x")) for k, v in ray.items() if "ratio" in k]
    else:
        out.append(("throughput.ray", ray["note"]))
    return out


def table(report: dict[str, Any], parts: tuple[str, ...] = PARTS) -> str:
    """The header line and the table of `parts` (those of them that ran)."""
    m = report["machine"]
    header = (f"Machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, {m['platform']}; "
              f"selftaught {m['selftaught_commit'][:12]}; {m['date']}; "
              f"{'--quick' if report['quick'] else 'full'} run, {report['seconds']:.0f} s.")
    keys = {PART_KEYS[part] for part in parts}
    lines = [header, "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {key} | {value.replace('|', '/')} |"
              for key, value in rows({k: v for k, v in report.items() if k not in PART_KEYS.values() or k in keys})]
    return "\n".join(lines)


EXPLANATION = """\
- **lpn_scoring**: the brute-force LPN solver (`tests/data/parity_solver.py`, all 2^10 secrets with numpy)
  on the 20 val instances of `parity_noise`. In process: its `algorithm` called on each instance's
  arguments and scored by the task's scorer. Cold: `selftaught.evaluate.evaluate` with a
  `BwrapSandbox` (a new worker is started: interpreter, numpy, program defined). Warm: the same through
  `WarmPool(BwrapSandbox(), size=2)` (a child forked from a pre-started zygote, what runs use by
  default). The ratios are sandboxed time / in-process time (medians).
- **stop_iteration**: `selftaught run --iterations 1` (a subprocess) with `--lm openai:...` pointed at
  `bench/latency_server.py`, which answers every request after a fixed latency with the offline
  `mutate` backend's replies (the k-th identical request gets the next samples, so every run sees the
  same replies). *parallel* is the defaults; *sequential* is `--workers 1 --concurrency 1`, the paper's
  design; *speculating* is the defaults with `--speculate` (the candidates' meta-utilities start as
  soon as the batch that proposed them returns, so their round trips overlap: its ratio may be under 1,
  since the critical path counts them one after another as the improver's code asks for them).
  Requests and the most in flight are counted by the server. "Same result at both" compares the
  iteration's improvers and scores at the two latencies. The server hands out samples by arrival
  order (the HTTP API carries no stream), so where the order in which different streams send the same
  prompt changes with latency, as with speculation, which streams get which replies changes, and so
  may the result: an artifact of this server, not of speculation, whose results are identical with a
  backend that draws samples per stream, as the offline backends and a replayed cache do (tested in
  `tests/test_parallelism_and_speculation.py`).
- **critical path** = round trips x latency + compute. Round trips are the fewest sequential LM round
  trips the seed improver's code needs, read from the run's own `improver_run` events: measuring I_0
  (its downstream runs can all go at once: the most LM calls of one), I_0's own LM calls while improving
  itself (one `batch_prompt`), then for each candidate it scored, one after another (`max(candidates,
  key=utility)`), the most LM calls of one of that candidate's downstream runs (none for a candidate seen
  before or one that crashed before asking), then measuring I_1. The compute that cannot overlap is
  estimated, not derived: it is the least wall time of the same iteration at latency 0 (same replies;
  either configuration, any repeat), the whole subprocess (interpreter start, sandbox probe, every
  evaluation, LM round trips of a few ms). `critical_path_ratio` = wall time (median) / critical path:
  1.0 means nothing but the critical path; slightly under 1 is possible, since at latency 0 some
  compute of parallel branches competes for the cores that, with latency, would overlap a wait.
  `parallel_speedup` = sequential wall / parallel wall; `speculation_speedup` = parallel wall /
  speculating wall. The downstream runs of one meta-utility run up to `--concurrency` at once (they
  wait on the model), their evaluations up to `--workers` at once (they need a core).
  The machine may be shared with other work: the runs are interleaved and repeated for that reason.
- **throughput**: distinct small variants of the solver scored on `parity_noise` val through
  the default local executor (`make_executor`: warm workers of a `BwrapSandbox`, at most `workers` at
  once), all submitted at once from a thread pool; evaluations per second and the speedups over one
  worker (on 2 cores, 4 workers cannot beat 2 by much: the evaluations are CPU-bound). The Ray row
  uses `selftaught.execute._ray.RayExecutor` (a local Ray instance on this machine)."""


WARM_EXPLANATION = """\
- **warm**: `bench/warm_cost.py`. Each of its repeats scores, one after another, a trivial program (it
  returns 20 zeros, so what is measured is the evaluation's own cost: a child forked and set up, the
  program loaded, 20 calls each charged with the child's CPU time, the sweep after it), the brute-force
  solver, both through `evaluate` with `WarmPool(BwrapSandbox(), size=2)`, and the solver in this
  process (as in lpn_scoring), so a busy spell hits all three alike. The CPU row is what one trivial
  evaluation costs this process (the orchestrator) and the pool's sandboxes (zygote, child and sweep,
  read from their cgroups), so work moved off the critical path still counts. The ratio is the
  solver's warm median / its in-process median."""


def _block(text: str, begin: str, end: str) -> tuple[int, int] | None:
    """Where the block from `begin` to `end` (both included) is in `text`."""
    if begin in text and end in text[text.index(begin):]:
        start = text.index(begin)
        return start, text.index(end, start) + len(end)
    return None


def write_docs(report: dict[str, Any], parts: tuple[str, ...]) -> None:
    """Replaces the blocks of the parts that ran in this benchmark's section of docs/benchmarks.md (the section is
    appended if missing); the rest of the file, and a block whose parts did not run, are untouched."""
    text = DOCS.read_text() if DOCS.exists() else ""
    where = _block(text, BEGIN, END)
    old = text[where[0] + len(BEGIN): where[1] - len(END)] if where else ""
    warm_at = _block(old, WARM_BEGIN, WARM_END)
    main, warm = (old[: warm_at[0]], old[warm_at[0]: warm_at[1]]) if warm_at else (old, "")
    flag = " --quick" if report["quick"] else ""
    if set(MAIN_PARTS) <= set(parts):
        main = (f"\n## Parallelism and sandbox overhead (`bench/run.py`)\n\n"
                f"Produced by `python bench/run.py{flag} --write-docs`.\n\n"
                f"{table(report, MAIN_PARTS)}\n\n{EXPLANATION}\n")
    if "warm" in parts:
        warm = (f"{WARM_BEGIN}\n### Fixed cost of a warm evaluation (`bench/run.py --only warm`)\n\n"
                f"Produced by `python bench/run.py{flag} --only warm --write-docs`.\n\n"
                f"{table(report, ('warm',))}\n\n{WARM_EXPLANATION}\n{WARM_END}")
    section = f"{BEGIN}{main.rstrip()}\n\n{warm}\n{END}" if warm else f"{BEGIN}{main}{END}"
    if where:
        text = text[: where[0]] + section + text[where[1]:]
    else:
        text = text + ("" if text.endswith("\n") or not text else "\n") + ("\n" if text else "") + section + "\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and programs, small STOP budgets (<2 min)")
    parser.add_argument("--only", metavar="PARTS",
                        help=f"run only these parts, comma-separated (of {', '.join(PARTS)})")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON to FILE")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LM request (default 1)")
    parser.add_argument("--write-docs", action="store_true", help="rewrite this benchmark's section of "
                        "docs/benchmarks.md (with --only: the blocks of those parts; lpn, stop and throughput "
                        "share one, so they go together)")
    args = parser.parse_args()
    parts = tuple(p for p in PARTS if args.only is None or p in args.only.split(","))
    unknown = set(args.only.split(",")) - set(PARTS) if args.only else set()
    if unknown or not parts:
        parser.error(f"--only takes some of {', '.join(PARTS)}, not {args.only!r}")
    if args.write_docs and set(MAIN_PARTS) & set(parts) and not set(MAIN_PARTS) <= set(parts):
        parser.error(f"--write-docs rewrites {', '.join(MAIN_PARTS)} together: run all of them or none")
    started = time.perf_counter()
    secret = SplitSecret.from_text(SECRET_TEXT, "flag")
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    print(f"machine: {report['machine']}", file=sys.stderr)
    steps = {
        "lpn": ("LPN scoring", lambda: lpn_scoring(5 if args.quick else 15, secret)),
        "stop": ("one STOP iteration (3 configurations x 2 latencies x repeats)",
                 lambda: stop_iteration(args.latency, args.quick, 2 if args.quick else 3)),
        "throughput": ("evaluation throughput", lambda: throughput(8 if args.quick else 24, secret)),
        "warm": ("the fixed cost of a warm evaluation", lambda: warm_cost(10 if args.quick else 30, secret)),
        "seeds": ("4 seeds at once against one (bench/seeds.py)", lambda: _seeds(args.latency, args.quick)),
    }
    for i, part in enumerate(parts, 1):
        what, measure = steps[part]
        print(f"{i}/{len(parts)} {what}...", file=sys.stderr)
        report[PART_KEYS[part]] = measure()
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["ratios"] = {key: value for key, value in _flatten(report).items()
                        if "ratio" in key.rsplit(".", 1)[-1] or "speedup" in key.rsplit(".", 1)[-1]}
    print(table(report, parts))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.write_docs:
        write_docs(report, parts)
        if "seeds" in parts:
            import seeds

            seeds.write_docs(report["seeds_at_once"])


def _seeds(latency: float, quick: bool) -> dict[str, Any]:
    import seeds  # bench/seeds.py imports this module's helpers

    return seeds.measure(4, latency, 2 if quick else 3, 32)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


if __name__ == "__main__":
    main()
