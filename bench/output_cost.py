"""What a candidate's output costs the orchestrator: its CPU per instance for a precomputed 8 MB result and a control.

Run with `PYTHONPATH=src python bench/output_cost.py [--task parity_noise] [--repeats 3] [--json]`; point
PYTHONPATH at another checkout's src to measure it before a change. The hostile program (issue 16) encodes one
8 MB result (four million zeros) at load and writes it for every call straight onto the protocol pipe, past the
worker's own checks, so it spends next to nothing itself; the control returns a well-formed answer. The
orchestrator's CPU is this process's (`time.process_time`) around `evaluate`, which runs in this thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from selftaught.evaluate import evaluate
from selftaught.sandbox import select_sandbox
from selftaught.tasks import SplitSecret, get_task

HOSTILE = '''
import json, sys
LINE = json.dumps({"op": "result", "ok": True, "output": [0] * 4_000_000}, separators=(",", ":")).encode() + b"\\n"
_worker = next(m for m in (sys.modules.get("worker"), sys.modules.get("__main__")) if hasattr(m, "Link"))
_send = _worker.Link.send
def _forged(self, message, *limit):
    if message.get("op") != "result":
        return _send(self, message, *limit)
    self.writer.write(LINE)
    self.writer.flush()
_worker.Link.send = _forged
def algorithm(*args):
    return 0
'''
# A well-formed answer of the parity tasks' shape: as cheap for the worker as the hostile one.
CONTROL = "def algorithm(train, labels, test):\n    return [0] * len(test)\n"


def measure(task_name: str, program: str, repeats: int) -> dict[str, Any]:
    """Median over `repeats` evaluations: orchestrator CPU and wall per instance, and what the program was charged."""
    task = get_task(task_name)
    sandbox = select_sandbox().sandbox
    secret = SplitSecret.from_text("bench-output-cost", "bench")
    cpu, wall, charged = [], [], []
    failures: dict[str, int] = {}
    for _ in range(repeats):
        started_cpu, started = time.process_time(), time.perf_counter()
        result = evaluate(task, program, "val", sandbox=sandbox, secret=secret)
        n = max(1, result.n_instances)
        cpu.append((time.process_time() - started_cpu) / n)
        wall.append((time.perf_counter() - started) / n)
        charged.append(sum(o.elapsed for o in result.outcomes) / n)
        failures = result.failures
    return {"orchestrator_cpu_ms_per_instance": round(1000 * statistics.median(cpu), 2),
            "wall_ms_per_instance": round(1000 * statistics.median(wall), 2),
            "charged_cpu_ms_per_instance": round(1000 * statistics.median(charged), 2),
            "instances": result.n_instances, "failures": failures, "detail": result.detail[:160]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="parity_noise")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {name: measure(args.task, program, args.repeats) for name, program in
            (("control", CONTROL), ("hostile (precomputed 8 MB result)", HOSTILE))}
    if args.json:
        print(json.dumps({"task": args.task, "repeats": args.repeats, **rows}, indent=2))
        return
    for name, row in rows.items():
        print(f"{name}: orchestrator CPU {row['orchestrator_cpu_ms_per_instance']} ms/instance, wall "
              f"{row['wall_ms_per_instance']} ms/instance, charged to the program {row['charged_cpu_ms_per_instance']}"
              f" ms/instance; {row['instances']} instances, failures {row['failures']}")


if __name__ == "__main__":
    main()
