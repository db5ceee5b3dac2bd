"""Benchmark: K seeds of STOP at once (`run --repeats K`) against one seed, at a fixed LM latency (issue 17)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any

from latency_server import LatencyServer
from run import DOCS, QUICK_BUDGETS, bench_env, machine, timed_run

BEGIN, END = "<!-- bench/seeds.py -->", "<!-- /bench/seeds.py -->"


def once(server: LatencyServer, repeats: int, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
    """`selftaught run --repeats K --iterations 1` against the server: wall time and each seed's figures."""
    server.reset()
    budgets = [x for pair in QUICK_BUDGETS.items() for x in pair]
    with tempfile.TemporaryDirectory(prefix="selftaught-bench-") as runs_dir:
        wall, data = timed_run(server, runs_dir, ["--repeats", str(repeats), "--concurrency", str(concurrency),
                                                  *budgets], env)
    runs = data["runs"] if "runs" in data and "repeats" in data else [data]
    figures = [[(i["iteration"], i["meta_utility_val"], i["meta_utility_test"]) for i in run["iterations"]]
               for run in runs]
    return {"wall_s": round(wall, 3), "figures": figures, **server.summary()}


def measure(k: int, latency: float, repeats: int, concurrency: int) -> dict[str, Any]:
    env = bench_env()
    one: list[dict[str, Any]] = []
    many: list[dict[str, Any]] = []
    many0: list[dict[str, Any]] = []
    with LatencyServer(latency) as server:
        for _ in range(repeats):  # interleaved, so a busy spell hits all alike
            server.latency = latency
            one.append(once(server, 1, concurrency, env))
            many.append(once(server, k, concurrency, env))
            server.latency = 0.0
            many0.append(once(server, k, concurrency, env))
    wall_one = sorted(r["wall_s"] for r in one)[len(one) // 2]
    wall_many = sorted(r["wall_s"] for r in many)[len(many) // 2]
    compute = sorted(r["wall_s"] for r in many0)[len(many0) // 2]
    return {"k": k, "latency_s": latency, "concurrency": concurrency, "repeats": repeats,
            "budgets": " ".join(x for pair in QUICK_BUDGETS.items() for x in pair),
            "one_seed_s": wall_one, "k_seeds_s": wall_many, "ratio": round(wall_many / wall_one, 3),
            "one_seed_runs": [r["wall_s"] for r in one], "k_seeds_runs": [r["wall_s"] for r in many],
            "k_seeds_latency0_s": compute, "floor_ratio": round(max(compute, wall_one) / wall_one, 3),
            "max_in_flight": max(r["max_in_flight"] for r in many),
            "machine": machine(), "load_average": os.getloadavg()}


def write_docs(result: dict[str, Any]) -> None:
    m = result["machine"]
    text = (f"{BEGIN}\n## K seeds at once (issue 17)\n\n"
            f"`python bench/seeds.py` ({m['date']}, {m['cores']} cores, {m['cpu_model']}, load average "
            f"{result['load_average'][0]:.1f}): `selftaught run --iterations 1 --repeats K` against a local "
            f"OpenAI-compatible server answering after {result['latency_s']:g} s (mutate replies), budgets "
            f"`{result['budgets']}`, `--concurrency {result['concurrency']}` (one limit for the whole study), "
            f"median of {result['repeats']}.\n\n"
            "| what | result |\n| --- | --- |\n"
            f"| one seed | {result['one_seed_s']:.1f} s (runs: {result['one_seed_runs']}) |\n"
            f"| K = {result['k']} seeds at once | {result['k_seeds_s']:.1f} s (runs: {result['k_seeds_runs']}) |\n"
            f"| K seeds / one seed (goal <= 1.3) | {result['ratio']:.2f} |\n"
            f"| most requests in flight, K seeds | {result['max_in_flight']} |\n"
            f"| K seeds at latency 0 (their compute: the least K seeds can take here) | "
            f"{result['k_seeds_latency0_s']:.1f} s; floor of the ratio {result['floor_ratio']:.2f} |\n"
            "\nThe server numbers its samples per identical prompt in order of arrival (as a stream does), so "
            "seeds that send the same prompts at once get other samples than alone; with the offline backend, whose "
            "samples depend only on the run's seed and stream, K seeds at once give exactly the figures of the same "
            f"seeds one after another (`tests/api/test_seeds_at_once.py`).\n{END}\n\n")
    current = DOCS.read_text(encoding="utf-8")
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    DOCS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    result = measure(args.k, args.latency, args.repeats, args.concurrency)
    print(json.dumps(result, indent=2))
    if not args.no_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
