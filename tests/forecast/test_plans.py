"""The plan follows the code the run executes: the seed improver's calls and prompts, the budgets, the structure."""

from __future__ import annotations

import math

import pytest

from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.forecast import (
    Figures,
    ItemEstimate,
    PartPlan,
    estimate_reproduce,
    estimate_run,
    estimate_transfer,
    render,
)
from selftaught.forecast._plan import plan_run
from selftaught.improver import seed_improver
from selftaught.stop.meta_utility import meta_description
from selftaught.tasks import get_task


def items(config: Config) -> dict[str, ItemEstimate]:
    return {i.name: i for i in estimate_run(config).parts[0].items}


def test_the_seed_improvers_samples_come_from_its_code_and_the_budgets() -> None:
    config = Config(iterations=1, downstream_runs=3, max_responses_per_call=6, utility_budget=4, meta_utility_budget=2)
    found = items(config)
    measured, step = found["I_0 measured (val and test)"], found["step 1: I_0 improves itself"]
    assert measured.figures.calls.high == 3 and measured.figures.samples.high == 3 * 4  # min(6, utility budget)
    assert step.figures.samples.high == 2  # min(6, meta-utility budget)
    candidates = found["step 1: its candidates' meta-utility"]
    assert candidates.runs.high == 2 * 3  # I_0 scores its 2 candidates, each with 3 downstream runs
    assert candidates.figures.calls.high == 2 * 3 * config.lm_budget  # generated code: up to its LM budget


def test_a_changed_seed_improver_changes_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate runs the seed improver's code: one that asks twice is estimated at two calls a run."""
    line = "    new_solutions = language_model.batch_prompt(expertise, [message] * n_messages, temperature=0.7)\n"
    assert line in seed_improver()
    twice = seed_improver().replace(line, line + line.replace("new_solutions = ", "new_solutions += "))
    monkeypatch.setattr("selftaught.forecast._trace.seed_improver", lambda: twice)
    measured = items(Config(iterations=0, downstream_runs=2))["I_0 measured (val and test)"]
    assert measured.figures.calls.expected == 2 * 2 and measured.figures.samples.expected == 2 * 2 * 6


def test_the_prompts_are_those_the_run_sends() -> None:
    config, task = Config(iterations=1, meta_utility_budget=7), get_task("three_sat")
    plan: PartPlan = plan_run(config, task)
    ((down,),) = [c.requests for c in plan.works[0].trace.calls]
    assert task.seed_solution in down.message and task.description in down.message
    assert "expert computer science researcher" in down.system
    ((meta,),) = [c.requests for c in plan.works[1].trace.calls]
    assert seed_improver() in meta.message and meta_description(config) in meta.message
    assert "can only be called 7 times" in meta.message


def test_requests_follow_the_backend() -> None:
    def measured(lm: str) -> Figures:
        return items(Config(lm=lm, iterations=0, downstream_runs=2))["I_0 measured (val and test)"].figures
    assert measured("mutate").requests.high == 0  # offline: nothing is sent
    openai = measured("openai:gpt-4o")
    assert (openai.requests.low, openai.requests.expected, openai.requests.high) == (2, 2, 12)  # n, or per sample
    assert measured("anthropic:claude-opus-4-0").requests.low == 12  # no `n`: a request per sample
    assert openai.input_tokens.high > 6 * openai.input_tokens.expected  # the prompt billed once per sample at worst


def test_wall_clock_counts_waves_of_concurrent_downstream_runs() -> None:
    def wall(concurrency: int, latency: float) -> float:
        return estimate_run(Config(iterations=0, downstream_runs=10, concurrency=concurrency),
                            latency=latency).wall_seconds.expected
    assert wall(10, 7.0) == 7.0 and wall(5, 7.0) == 14.0 and wall(3, 2.0) == 8.0


def test_the_study_is_the_sum_of_its_parts() -> None:
    config = Config(lm="openai:gpt-4o", downstream_runs=2)
    study = estimate_reproduce(config, seeds=3, iterations=2, transfer_tasks=["maxcut", "parity_noiseless"],
                               sandbox_samples=13)
    run = estimate_run(Config(lm="openai:gpt-4o", downstream_runs=2, iterations=2))
    names = [p.name for p in study.parts]
    assert names[0] == run.parts[0].name and names[2:] == ["sandbox-flag --warn", "sandbox-flag --no-warn"]
    assert study.parts[0].figures.calls.high == 3 * run.total.calls.high
    assert study.parts[0].wall_seconds.expected == 3 * run.wall_seconds.expected
    transfer = study.parts[1]
    assert transfer.repeats == 3 and transfer.figures.calls.low == 3 * 2 * 2  # I_0 on each task; I_T may be I_0
    sandbox = study.parts[2].figures
    assert sandbox.samples.expected == 13 and sandbox.calls.expected == math.ceil(13 / 6)
    for name in ("calls", "samples", "input_tokens", "output_tokens"):
        assert getattr(study.total, name).high == sum(getattr(p.figures, name).high for p in study.parts)
    assert study.usd is not None and study.usd.expected == pytest.approx(sum(p.usd.expected for p in study.parts))
    assert "total" in render(study)


def test_transfer_of_the_seed_improver_measures_it_once_per_task() -> None:
    tasks = ["maxcut", "three_sat"]
    seed = estimate_transfer(Config(), seed_improver(), tasks).parts[0]
    other = estimate_transfer(Config(), seed_improver() + "\n# changed\n", tasks).parts[0]
    assert len(seed.items) == 2 and all(i.fixed for i in seed.items)
    assert len(other.items) == 4 and other.figures.calls.high > seed.figures.calls.high


def test_bad_counts_are_user_errors() -> None:
    with pytest.raises(UserError, match="--repeats"):
        estimate_run(Config(), repeats=0)
    with pytest.raises(UserError, match="seeds"):
        estimate_reproduce(Config(), seeds=0, iterations=1)
    with pytest.raises(UserError, match="samples"):
        estimate_reproduce(Config(), seeds=1, iterations=1, sandbox_samples=-3)
