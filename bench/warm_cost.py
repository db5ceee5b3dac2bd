"""The fixed cost of a warm evaluation (issue 17): a trivial program and the brute-force solver through a WarmPool.

Run with `PYTHONPATH=src python bench/warm_cost.py [--repeats 30] [--json]`, or as the `warm` part of
`bench/run.py` (`--only warm`). Point PYTHONPATH at another checkout's src to measure it before a change.

Every repeat scores, one after another, the trivial program (it returns 20 zeros: what is left is the
evaluation's own cost), the brute-force LPN solver in the pool, and the solver in this process (its
`algorithm` called on each instance and scored by the task's scorer), so a busy spell of the machine
hits all three alike. Besides wall times it reports what one trivial evaluation costs in CPU: this
process's (the orchestrator) and the pool's sandboxes' (the zygotes and their children, read from their
cgroups, as a program is charged), so that work moved off the critical path still shows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from selftaught.evaluate import evaluate
from selftaught.sandbox import BwrapSandbox, WarmPool
from selftaught.tasks import SplitSecret, Task, get_task

ROOT = Path(__file__).resolve().parent.parent
SOLVER = (ROOT / "tests" / "data" / "parity_solver.py").read_text()
TRIVIAL = "def algorithm(train_samples, train_parity, test_samples):\n    return [0] * len(test_samples)\n"
SECRET_TEXT = "selftaught-bench"


def _median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2)


def _in_process(task: Task, secret: SplitSecret) -> float:
    namespace: dict[str, Any] = {"__name__": "candidate"}
    exec(compile(SOLVER, "<solver>", "exec"), namespace)
    algorithm = namespace[task.entrypoint]
    started = time.perf_counter()
    for instance in task.instances("val", secret):
        t = time.process_time()
        output = algorithm(*instance.args)
        task.clip(task.checked_score(instance, output, time.process_time() - t))
    return time.perf_counter() - started


def _sandbox_cpu(pool: WarmPool) -> float | None:
    """CPU seconds the pool's idle zygotes' sandboxes have used (each a cgroup: the zygote, its children, its
    sweeps); None where that cannot be read."""
    total = 0.0
    pool.idle()  # every sweep under way answered: each zygote is idle, or gone
    for zygote in pool._pool.idle:  # a bench may look inside
        try:
            total += zygote.process.cpu_time()
        except Exception:
            return None
    return total if pool._pool.idle and "cgroup" in pool._pool.idle[0].process.cpu_source else None


def _scored(task: Task, program: str, secret: SplitSecret, pool: WarmPool) -> float:
    started = time.perf_counter()
    result = evaluate(task, program, "val", sandbox=pool, secret=secret)
    took = time.perf_counter() - started
    if result.failure or result.failures:
        raise RuntimeError(f"failed in the pool: {result.failure} {result.failures} {result.detail}")
    return took


def warm_cost(repeats: int, secret: SplitSecret | None = None) -> dict[str, Any]:
    """Medians over `repeats` interleaved rounds (see the module docstring)."""
    secret = secret or SplitSecret.from_text(SECRET_TEXT, "flag")
    task = get_task("parity_noise")
    load_before = os.getloadavg()
    trivial: list[float] = []
    solver: list[float] = []
    inproc: list[float] = []
    host_cpu: list[float] = []
    box_cpu: list[float] = []
    pool = WarmPool(BwrapSandbox(), size=2)
    try:
        pool.warm()
        for _ in range(3):  # numpy warmed up in every process, instances made, both zygotes used
            _scored(task, TRIVIAL, secret, pool)
            _scored(task, SOLVER, secret, pool)
            _in_process(task, secret)
        started = pool.started
        for _ in range(repeats):
            box, cpu = _sandbox_cpu(pool), time.process_time()
            trivial.append(_scored(task, TRIVIAL, secret, pool))
            host_cpu.append(time.process_time() - cpu)
            time.sleep(0.02)  # any work the evaluation left running in the background is done by now
            after = _sandbox_cpu(pool)
            if box is not None and after is not None and pool.started == started:
                box_cpu.append(after - box)
            solver.append(_scored(task, SOLVER, secret, pool))
            inproc.append(_in_process(task, secret))
    finally:
        pool.close()
    out: dict[str, Any] = {
        "task": task.name, "split": "val", "instances": len(task.instances("val", secret)), "repeats": repeats,
        "trivial_ms": _median_ms(trivial),
        "trivial_ms_p10_p90": [round(1000 * q, 2) for q in statistics.quantiles(trivial, n=10)[::8]],
        "trivial_host_cpu_ms": _median_ms(host_cpu),
        "trivial_sandbox_cpu_ms": _median_ms(box_cpu) if box_cpu else None,
        "solver_warm_ms": _median_ms(solver),
        "solver_in_process_ms": _median_ms(inproc),
        "load_average": [round(x, 2) for x in (load_before[0], os.getloadavg()[0])],
    }
    out["solver_warm_ratio"] = round(out["solver_warm_ms"] / out["solver_in_process_ms"], 3)
    return out


def rows(warm: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures as (name, value) rows of bench/run.py's table."""
    low, high = warm["trivial_ms_p10_p90"]
    box = warm["trivial_sandbox_cpu_ms"]
    return [
        ("warm.trivial-program warm evaluation",
         f"{warm['trivial_ms']:.3g} ms (median of {warm['repeats']}; p10 {low:.3g}, p90 {high:.3g}): a program "
         f"returning zeros on {warm['instances']} {warm['task']} {warm['split']} instances, WarmPool(BwrapSandbox())"),
        ("warm.trivial-program CPU", f"orchestrator {warm['trivial_host_cpu_ms']:.3g} ms, sandbox "
         + (f"{box:.3g} ms" if box is not None else "n/a") + " (medians; the sandbox's from its cgroup)"),
        ("warm.solver warm / in process", f"{warm['solver_warm_ms']:.3g} ms / {warm['solver_in_process_ms']:.3g} ms"),
        ("warm.the solver's warm / in-process ratio", f"{warm['solver_warm_ratio']:.3g}x"),
        ("warm.load average (1 min) before / after", f"{warm['load_average'][0]} / {warm['load_average'][1]}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = warm_cost(args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, value in rows(result):
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
