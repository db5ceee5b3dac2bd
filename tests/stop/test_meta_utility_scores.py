"""The meta-utility: downstream runs per task, their mean, their intervals, flags, caching, and its budgeted service."""

from __future__ import annotations

import faulthandler
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selftaught.broker import Services
from selftaught.errors import ScorerError
from selftaught.stop.meta_utility import DownstreamRun, MetaScore, MetaUtility, MetaUtilityService
from selftaught.store import program_hash, read_events
from selftaught.tasks import Instance
from support import TEST_SECRET, SumTask, make_services

HANG_SECONDS = 180  # each test takes a few seconds, even on a loaded machine
RIGHT_SUM = "def algorithm(a):\n    return int(sum(int(x) for x in a))\n"


def improver(body: str) -> str:
    """An improver that needs no LM: its body (statements, ending in a return) gives the solution."""
    return "def improve_algorithm(initial_solution, utility, language_model):\n" + "".join(
        f"    {line}\n" for line in body.splitlines())


RIGHT = improver(f"return {RIGHT_SUM!r}")
NOTHING = improver("return None")


class OffByOneTask(SumTask):
    """The sum plus one: the right sum scores 0 on it."""

    name = "sum_plus_one"

    def make_instance(self, rng: np.random.Generator, index: int) -> Instance:
        a = rng.integers(0, 10, size=5)
        return Instance((a,), int(a.sum()) + 1)


class LenientTask(SumTask):
    """A task whose failed instances still score 0.5."""

    name = "lenient"
    failure_score = 0.5


class BrokenOnceTask(SumTask):
    """Its scorer raises the first time it is used (a task's bug that a retry does not meet)."""

    name = "broken_once"

    def __init__(self) -> None:
        self.broken = True
        self.during_failure: list[Any] = []  # what to run just before the failure (from the scoring thread)

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        if self.broken:
            self.broken = False
            for call in self.during_failure:
                call()
            raise RuntimeError("scorer bug")
        return super().score_output(instance, output, elapsed)


@pytest.fixture(autouse=True)
def no_test_hangs() -> Iterator[None]:
    """An ask that waits on a score nobody will give ends the test process (with a traceback) instead of hanging."""
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    made = make_services(["no LM call is expected"], tmp_path, downstream_runs=2)
    yield made
    made.close()
    assert made.store is not None
    made.store.close()


def events(services: Services, kind: str) -> list[dict[str, Any]]:
    assert services.store is not None
    return [e for e in read_events(services.store.root) if e["kind"] == kind]


def run(task: str, index: int, val: float, test: float | None, failure: str | None = None, *,
        val_instances: tuple[float, ...] = (), test_instances: tuple[float, ...] = ()) -> DownstreamRun:
    return DownstreamRun(task, index, val, test, failure, 1, 1, None if failure else RIGHT_SUM,
                         val_instances, test_instances)


# --- what a score is made of (no downstream run needed)


def test_a_runs_instance_scores_are_the_ones_it_kept_for_that_split() -> None:
    kept = run("sum", 0, 0.5, 1 / 3, val_instances=(1.0, 0.0), test_instances=(0.0, 0.0, 1.0))
    assert kept.instance_scores("val", 9) == [1.0, 0.0]
    assert kept.instance_scores("test", 9) == [0.0, 0.0, 1.0]


def test_a_run_without_instance_scores_scored_its_split_score_on_every_instance() -> None:
    failed = run("sum", 0, 0.25, 0.5, "exception")
    assert failed.instance_scores("val", 3) == [0.25] * 3
    assert failed.instance_scores("test", 2) == [0.5] * 2
    assert run("sum", 0, 0.25, None, "exception").instance_scores("test", 2) == [0.0, 0.0]


def test_the_interval_counts_a_run_without_a_solution_as_one_failure_score() -> None:
    score = MetaScore(0.375, 0.25, (run("sum", 0, 0.75, 0.5, val_instances=(1.0, 1.0, 1.0, 0.0),
                                        test_instances=(1.0, 0.0, 0.0, 1.0, 0.0, 1.0)),
                                    run("sum", 1, 0.0, 0.0, "no_code")))
    val, test = score.interval("val"), score.interval("test")
    assert (val.mean, val.n) == (0.375, 5) and val.low <= 0.375 <= val.high
    assert (test.mean, test.n) == (0.25, 7) and test.low <= 0.25 <= test.high


def test_an_improver_failed_only_when_every_downstream_run_failed() -> None:
    good, bad = run("sum", 0, 1.0, 1.0), run("sum", 1, 0.0, 0.0, "exception")
    assert MetaScore(0.0, 0.0, (bad, bad)).failed
    assert not MetaScore(0.5, 0.5, (good, bad)).failed
    assert not MetaScore(1.0, 1.0, (good, good)).failed


# --- scoring an improver


def test_an_unknown_purpose_is_refused(services: Services) -> None:
    with pytest.raises(ValueError, match="unknown purpose"):
        MetaUtility(services, [SumTask()]).score(RIGHT, purpose="report")


def test_no_improver_or_a_blank_one_scores_each_tasks_failure_score_without_a_run(services: Services) -> None:
    meta = MetaUtility(services, [SumTask(), LenientTask()])
    for nothing in (None, "  \n"):
        score = meta.score(nothing, purpose="select")
        assert score.runs == (DownstreamRun("sum", 0, 0.0, None, "no_code", 0, 0),
                              DownstreamRun("lenient", 0, 0.5, None, "no_code", 0, 0))
        assert (score.val, score.test, score.failed) == (0.25, None, True)
    assert events(services, "improver_run") == []


def test_the_score_is_the_mean_over_every_tasks_downstream_runs(services: Services) -> None:
    progress: list[str] = []
    services.progress = progress.append
    score = MetaUtility(services, [SumTask(), OffByOneTask()]).score(RIGHT, purpose="measure", with_test=True,
                                                                      label="[I_3] ")
    assert [(r.task, r.index, r.val, r.test, r.failure) for r in score.runs] == [
        ("sum", 0, 1.0, 1.0, None), ("sum", 1, 1.0, 1.0, None),
        ("sum_plus_one", 0, 0.0, 0.0, None), ("sum_plus_one", 1, 0.0, 0.0, None)]
    assert (score.val, score.test) == (0.5, 0.5)
    lines = sorted(line for line in progress if "downstream run" in line)
    assert [line.split(":")[0] for line in lines] == [f"[I_3] downstream run {k}/4" for k in range(1, 5)]
    assert sum(line.endswith("sum val=1.000") for line in lines) == 2
    streams = sorted(e["stream"] for e in events(services, "improver_run"))
    digest = program_hash(RIGHT)
    assert streams == sorted(f"measure/{digest}/{task}/{i}" for task in ("sum", "sum_plus_one") for i in (0, 1))


def test_without_test_no_test_score_is_made(services: Services) -> None:
    score = MetaUtility(services, [SumTask()]).score(RIGHT, purpose="select")
    assert score.test is None and all(r.test is None for r in score.runs)
    assert {e["split"] for e in events(services, "utility_call")} == {"val"}


def test_a_downstream_run_without_a_solution_keeps_the_improvers_failure(services: Services) -> None:
    meta = MetaUtility(services, [LenientTask()])
    with_test = meta.score(NOTHING, purpose="measure", with_test=True)
    assert [(r.val, r.test, r.failure, r.solution) for r in with_test.runs] == [(0.5, 0.5, "no_solution", None)] * 2
    assert with_test.failed and (with_test.val, with_test.test) == (0.5, 0.5)
    without = meta.score(NOTHING, purpose="select")
    assert [(r.val, r.test, r.failure) for r in without.runs] == [(0.5, None, "no_solution")] * 2


def test_a_second_ask_for_the_same_score_is_served_the_first(services: Services) -> None:
    meta = MetaUtility(services, [SumTask()])
    first = meta.score(RIGHT, purpose="select")
    assert meta.score(RIGHT, purpose="select") is first
    assert len(events(services, "improver_run")) == 2
    again = meta.score(RIGHT, purpose="measure")  # another purpose draws its own runs
    assert again is not first and len(events(services, "improver_run")) == 4


def test_a_scoring_that_fails_raises_and_the_next_ask_tries_again(services: Services) -> None:
    task = BrokenOnceTask()
    meta = MetaUtility(services, [task])
    with pytest.raises(ScorerError, match="scorer bug"):
        meta.score(RIGHT, purpose="select")
    assert meta.score(RIGHT, purpose="select").val == 1.0


def test_an_ask_waiting_on_a_scoring_that_fails_gets_its_failure(tmp_path: Path) -> None:
    services = make_services(["no LM call"], tmp_path, downstream_runs=1, speculate=True)
    task = BrokenOnceTask()
    meta = MetaUtility(services, [task])
    waiter_saw: list[BaseException] = []

    def wait_for_the_same_score() -> None:
        try:
            meta.score(RIGHT, purpose="select", speculative=True)
        except BaseException as exc:  # what the waiter was given is the point
            waiter_saw.append(exc)

    waiter = threading.Thread(target=wait_for_the_same_score, daemon=True)

    def start_the_waiter() -> None:  # while the first scoring runs: the waiter finds it in flight
        waiter.start()
        deadline = time.monotonic() + 30
        while services.speculation.report()["meta_scores"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    task.during_failure.append(start_the_waiter)
    try:
        with pytest.raises(ScorerError):
            meta.score(RIGHT, purpose="select")
        waiter.join(timeout=30)
        assert not waiter.is_alive()
        assert len(waiter_saw) == 1 and isinstance(waiter_saw[0], ScorerError)
    finally:
        services.close()


def test_a_solution_far_better_on_val_than_on_test_is_flagged(services: Services) -> None:
    task = SumTask()

    def memorising(splits: dict[str, int]) -> str:
        """A solution that knows the answers to the first instances of each split, and returns 0 otherwise."""
        known = {tuple(int(x) for x in i.args[0]): int(i.hidden)
                 for split, count in splits.items() for i in task.instances(split, TEST_SECRET)[:count]}
        return f"ANSWERS = {known!r}\ndef algorithm(a):\n    return ANSWERS.get(tuple(int(x) for x in a), 0)\n"

    meta = MetaUtility(services, [task])
    overfit = meta.score(improver(f"return {memorising({'val': 4})!r}"), purpose="measure", with_test=True)
    close = meta.score(improver(f"return {memorising({'val': 4, 'test': 5})!r}"), purpose="measure",
                       with_test=True)
    assert (overfit.val, close.val, close.test) == (1.0, 1.0, pytest.approx(5 / 6)) and overfit.test < 0.5
    flags = events(services, "reward_flag")
    assert {program_hash(r.solution or "") for r in overfit.runs} == {f["program"] for f in flags}
    assert all(f["flag"] == "val_test_gap" and f["val"] == 1.0 for f in flags) and len(flags) == 2


def test_a_downstream_runs_improver_sees_random_seeded_from_its_stream(services: Services) -> None:
    """Golden: the worker seed of a downstream run is derived from its stream name alone (the sha256-based
    program hash of `purpose/improver/task/index`, mod 2**31), so a recorded run reproduces across versions."""
    draws = improver("import random\nreturn f'def algorithm(a):\\n    return {random.getrandbits(60)}\\n'")
    # (these two streams' hashes have bit 31 set, so a seed taken mod 2**32 instead would show)
    score = MetaUtility(services, [SumTask()]).score(draws, purpose="compare")
    for r in score.runs:
        stream = f"compare/{program_hash(draws)}/sum/{r.index}"
        expected = random.Random(int(program_hash(stream), 16) % 2**31).getrandbits(60)
        assert r.solution == f"def algorithm(a):\n    return {expected}\n"


# --- the meta-utility as an improver's budgeted utility


def test_the_service_scores_candidates_until_its_budget_then_gives_zero(services: Services) -> None:
    service = MetaUtilityService(MetaUtility(services, [SumTask()]), budget=2, label="[I_1] ")
    progress: list[str] = []
    services.progress = progress.append
    assert service(RIGHT, [], {}) == 1.0
    assert service(NOTHING, [], {}) == 0.0
    scored = len(events(services, "improver_run"))
    assert service(RIGHT, [], {}) == 0.0 and service.uses == 3  # past the budget: nothing is scored
    assert len(events(services, "improver_run")) == scored == 4
    assert {line.split(": downstream")[0] for line in progress} == {"[I_1] candidate 1", "[I_1] candidate 2"}


def test_the_service_remembers_what_each_candidate_scored(services: Services) -> None:
    service = MetaUtilityService(MetaUtility(services, [LenientTask()]), budget=5)
    assert service(RIGHT, [], {}) == 1.0 and service(NOTHING, [], {}) == 0.5 and service(42, [], {}) == 0.5
    assert (service.seen(RIGHT), service.seen(NOTHING)) == (1.0, 0.5)
    assert service.seen(improver("return None  # never asked")) is None
    assert service.seen(None) is None  # a non-program candidate is no improver that could be returned


def test_turning_the_sandbox_off_through_the_service_is_recorded(services: Services) -> None:
    service = MetaUtilityService(MetaUtility(services, [SumTask()]), budget=1)
    service(NOTHING, [], {"use_sandbox": False})
    assert [(e["value"], e["level"]) for e in events(services, "sandbox_flag_off")] == [("False", "meta")]


# --- speculation


def test_a_speculative_score_asked_for_later_is_not_counted_unused(tmp_path: Path) -> None:
    services = make_services(["no LM call"], tmp_path, downstream_runs=1, speculate=True)
    try:
        meta = MetaUtility(services, [SumTask()])
        meta.score(RIGHT, purpose="select", speculative=True)
        assert services.usage_report()["speculation"]["meta_scores_unused"] == 1
        assert meta.score(RIGHT, purpose="select").val == 1.0
        report = services.usage_report()["speculation"]
        assert (report["meta_scores"], report["meta_scores_unused"]) == (1, 0)
    finally:
        services.close()


@pytest.mark.parametrize("speculate", [True, False])
def test_the_service_speculates_on_the_improvers_in_replies_only_when_asked_to(tmp_path: Path,
                                                                              speculate: bool) -> None:
    services = make_services(["no LM call"], tmp_path, downstream_runs=1, speculate=speculate)
    progress: list[str] = []
    services.progress = progress.append
    try:
        service = MetaUtilityService(MetaUtility(services, [SumTask()]), budget=2, label="[I_1] ")
        service.speculate([f"```python\n{RIGHT}```", f"```python\n{NOTHING}```"])
        services.speculation.drain()
        assert service.uses == 0
        if speculate:
            assert services.usage_report()["speculation"]["meta_scores"] == 2
            assert {line.split(": downstream")[0] for line in progress} == {
                "[I_1] speculative candidate 1", "[I_1] speculative candidate 2"}
        else:
            assert progress == [] and "speculation" not in services.usage_report()
    finally:
        services.close()
