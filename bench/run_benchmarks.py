"""Benchmarks of the execution path: worker start, per-instance overhead, split scoring, a whole STOP run.

Run with `python bench/run_benchmarks.py`; it rewrites docs/benchmarks.md with the numbers.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from selftaught.evaluate import deadline_for, evaluate
from selftaught.sandbox import BwrapSandbox, ProcessSandbox, Sandbox, select_sandbox
from selftaught.sandbox._guest import _wire
from selftaught.tasks import Instance, Task, get_task

ROOT = Path(__file__).resolve().parent.parent
BENCH_RUN_BEGIN, BENCH_RUN_END = "<!-- bench/run.py -->", "<!-- /bench/run.py -->"  # bench/run.py writes between


class Identity(Task):
    """Returns its input: the candidate's compute is nil, so what is measured is our overhead."""

    name = "identity"
    split_sizes: Mapping[str, int] = {"val": 200, "test": 1}
    time_limit = 1.0

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        return Instance((index,), index)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        return float(output == instance.hidden)


def worker_start_ms(sandbox: Sandbox, repeats: int = 20) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        w = sandbox.launch()
        w.send({"op": "load", "program": "def algorithm(x):\n    return x\n", "entrypoint": "algorithm"})
        w.receive(30)  # loading
        w.send({"op": "go"})
        w.receive(30)  # loaded
        out.append((time.perf_counter() - t) * 1000)
        w.kill()
    return out


def per_instance_us() -> tuple[float, list[float], list[float], str]:
    """The identity program's 200 calls: total time, and per call the CPU time charged and the wall round trip."""
    task = Identity()
    result = evaluate(task, "def algorithm(x):\n    return x\n", "val")
    assert result.score == 1.0
    return (result.duration, [o.elapsed * 1e6 for o in result.outcomes], [o.wall * 1e6 for o in result.outcomes],
            result.clock)


def cpu_reading_us(repeats: int = 2000) -> dict[str, float]:
    """What one reading of a worker's CPU time costs the host, per source (median of `repeats`)."""
    out: dict[str, float] = {}
    for source in ("cgroup", "proc"):
        box = BwrapSandbox()
        if source == "proc":
            box.cgroups.version = None  # no cgroups: the process tree in /proc
        with box.launch() as worker:
            if source == "cgroup" and worker.cpu_source.startswith("/proc"):
                continue
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                worker.cpu_time()
                times.append((time.perf_counter() - t) * 1e6)
            out[worker.cpu_source] = statistics.median(times)
    return out


class NearLimit(Identity):
    """A 0.1 s limit, for a program of fixed work that needs about 80% of it."""

    name = "near_limit"
    split_sizes: Mapping[str, int] = {"val": 20, "test": 1}
    time_limit = 0.1


def _work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def calibrated_loop(seconds: float) -> int:
    """Iterations of `_work`'s loop that take about `seconds` of CPU here."""
    n = 100_000
    while True:
        t = time.process_time()
        _work(n)
        took = time.process_time() - t
        if took > 0.05:
            return int(n * seconds / took)
        n *= 2


@contextlib.contextmanager
def cpu_hog(per_core: int) -> Iterator[None]:
    """`per_core` busy processes per core, each in a session of its own (as workers are: autogroup fairness)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"], start_new_session=True)
             for _ in range(per_core * (os.cpu_count() or 1))]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def near_limit_rows() -> list[tuple[str, str]]:
    """A fixed program needing ~80 ms of CPU in a worker against a 0.1 s limit, alone and beside CPU hogs: its CPU
    time (what is charged now) and its wall time (what was charged before), and the score each rule gives."""
    n = calibrated_loop(0.07)  # a worker runs it ~15% slower than this process (its audit hooks)
    program = f"def algorithm(x):\n    total = 0\n    for i in range({n}):\n        total += i * i\n    return x\n"
    task = NearLimit()
    rows = []
    for label, per_core in (("alone", 0), ("1 busy process per core", 1), ("2 busy processes per core", 2)):
        with cpu_hog(per_core) if per_core else contextlib.nullcontext():
            result = evaluate(task, program, "val")
        cpu = [o.elapsed * 1000 for o in result.outcomes]
        wall = [o.wall * 1000 for o in result.outcomes]
        old = sum(o.wall <= task.time_limit + 0.02 for o in result.outcomes) / len(result.outcomes)  # its slack
        rows.append((f"a fixed program ({n:,} loop steps), 0.1 s limit, 20 calls, {label}: CPU time (charged now) "
                     "and wall time (charged before)",
                     f"CPU {min(cpu):.1f}-{max(cpu):.1f} ms (median {statistics.median(cpu):.1f}), score "
                     f"{result.score:.2f}; wall {min(wall):.1f}-{max(wall):.1f} ms (median "
                     f"{statistics.median(wall):.1f}), score by the wall-clock rule {old:.2f}"))
    return rows


def maxcut_input_us() -> list[float]:
    """The charged time of a program that does nothing with max-cut's largest inputs (200x200 floats): the
    cost of sending and decoding them, which the time limit now counts."""
    task = get_task("maxcut")
    result = evaluate(task, "def algorithm(a):\n    return [0] * len(a)\n", "val")
    by_size = sorted(zip(result.outcomes, task.instances("val", _secret()), strict=True),
                     key=lambda pair: pair[1].args[0].shape[0])
    return [outcome.elapsed * 1e6 for outcome, _ in by_size[-5:]]


def _secret() -> Any:
    from selftaught.tasks import load_split_secret

    return load_split_secret()


STUBBORN = ("import signal, time\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\ntime.sleep(1.0)\n"
            "def algorithm(formula):\n    while True:\n        pass\n")


def stubborn_seconds() -> tuple[float, float, dict[str, int]]:
    """A 3-SAT candidate with 1 s of load work that ignores the interrupt and loops (the issue's case)."""
    task = get_task("three_sat")
    t = time.perf_counter()
    result = evaluate(task, STUBBORN, "val")
    return time.perf_counter() - t, deadline_for(task, 30), result.failures


def worst_decode_ms() -> float:
    """Decoding the most expensive message a worker may send: 8 MiB of tiny nested lists."""
    inner = "[[]," * 200 + "[]" + "]" * 200
    body = ",".join([inner] * (_wire.MAX_MESSAGE // (len(inner) + 1) - 2))
    line = ('{"op":"result","ok":true,"output":[' + body + "]}").encode()
    assert len(line) <= _wire.MAX_MESSAGE
    t = time.perf_counter()
    with contextlib.suppress(_wire.WireError):
        _wire.from_wire(_wire.decode(line)["output"])
    return (time.perf_counter() - t) * 1000


def split_seconds(task_name: str, split: str, repeats: int = 3) -> list[float]:
    task = get_task(task_name)
    out = []
    for i in range(repeats):
        out.append(evaluate(task, task.seed_solution, split, seed=i).duration)
    return out


def stop_run_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "selftaught", "run", "--runs-dir", tmp, "--json"],
                       check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    process = ProcessSandbox()
    refused = process.refusal()
    starts = worker_start_ms(process) if refused is None else []
    bwrap = select_sandbox("strict").sandbox
    assert isinstance(bwrap, BwrapSandbox)
    confined = worker_start_ms(bwrap)
    total, per, per_wall, clock = per_instance_us()
    readings = cpu_reading_us()
    near = near_limit_rows()
    lpn = split_seconds("parity_noise", "val")
    sat = split_seconds("three_sat", "val", repeats=1)
    run = stop_run_seconds()
    charged = maxcut_input_us()
    stubborn, deadline, stubborn_failures = stubborn_seconds()
    decode = worst_decode_ms()
    rows = [
        ("worker start, process sandbox: interpreter + numpy + program defined",
         f"{statistics.median(starts):.0f} ms (median of {len(starts)}; min {min(starts):.0f}, max {max(starts):.0f})"
         if starts else f"not measured: the process sandbox refuses here ({refused[:80]}...)" if refused else ""),
        ("worker start, bubblewrap sandbox (namespaces, setpriv, seccomp) + numpy + program defined",
         f"{statistics.median(confined):.0f} ms (median of {len(confined)}; min {min(confined):.0f}, "
         f"max {max(confined):.0f})"),
        ("per-instance CPU time charged, identity program (decode, call, encode; read from the worker's "
         f"{clock})", f"{statistics.median(per):.0f} µs median, p95 {np.percentile(per, 95):.0f} µs"),
        ("per-instance wall-clock round trip, identity program (with the CPU readings and polling)",
         f"{statistics.median(per_wall):.0f} µs median, p95 {np.percentile(per_wall, 95):.0f} µs"),
        ("one reading of a worker's CPU time by the host (bubblewrap worker)",
         "; ".join(f"{source}: {us:.1f} µs" for source, us in readings.items()) + " (median of 2000)"),
        *near,
        ("200 identity instances in one worker, total", f"{total * 1000:.0f} ms"),
        ("parity_noise seed on val (20 instances)", f"{statistics.median(lpn) * 1000:.0f} ms median of 3"),
        ("three_sat seed on val (30 instances: the paper's WalkSAT, 0.1 s of CPU each)", f"{sat[0]:.2f} s"),
        ("`selftaught run` defaults (LPN, T=3, 5 downstream runs, budgets 4x6/25/25, mutate, bubblewrap)",
         f"{run:.1f} s"),
        ("charged CPU time of a do-nothing max-cut program on its 5 largest val inputs (up to 200x200 floats)",
         f"{statistics.median(charged) / 1000:.1f} ms median of {len(charged)}, max {max(charged) / 1000:.1f} ms "
         "(the limit is 100 ms)"),
        ("three_sat val, a program with 1 s of load work that ignores the interrupt and loops",
         f"{stubborn:.1f} s (deadline {deadline:.1f} s; {stubborn_failures})"),
        ("decoding the costliest message a worker may send (8 MiB of nested empty lists)", f"{decode:.0f} ms"),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `python bench/run_benchmarks.py` (rewrites this file). Machine: "
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| what | result |",
        "| --- | --- |",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        "Evaluations below use the default sandbox (bubblewrap where it works).",
        "",
        "The per-instance time is what a task's time limit is charged with: the CPU time of the worker's",
        "processes from just before the instance's inputs are sent to the candidate's output arriving,",
        "excluding worker start and program definition (which has its own limit), read by the host from",
        "the worker's cgroup (or its /proc process tree). The near-limit rows show why: the same program's",
        "wall time grows with the machine's load, and so did its score under the wall-clock rule; its CPU",
        "time barely moves. A program that ignores the interrupt is killed and relaunched for the next",
        "instance; the evaluation's deadline bounds what that costs (before the deadline existed, the",
        "stubborn 3-SAT case above took 57 s, and about 10 minutes with 20 s of load work). Two budgets",
        "bound it now: the evaluation's CPU budget (the load limit + every instance's limit + slack),",
        "which a program within its limits never reaches and which ends the stubborn case after 18",
        "instances (each burns the 0.5 s interrupt grace), and the wall-clock deadline (the sum of the",
        "backstops), which ends a program that sleeps instead.",
        "Evaluations are cached by (task, split, program) within a run, so the STOP run does far fewer",
        "worker starts than utility calls (see the `counters` in its summary).",
        "",
    ]
    doc = ROOT / "docs" / "benchmarks.md"
    text = "\n".join(lines)
    old = doc.read_text() if doc.exists() else ""
    if BENCH_RUN_BEGIN in old and BENCH_RUN_END in old:  # bench/run.py's section is its own: keep it
        kept = old[old.index(BENCH_RUN_BEGIN):old.index(BENCH_RUN_END) + len(BENCH_RUN_END)]
        text = text.rstrip("\n") + "\n\n" + kept + "\n"
    doc.write_text(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
