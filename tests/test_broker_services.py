"""The run's services: one cached, recorded evaluation per program, run-wide caps, and stopping a run at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from scripted_worker import ScriptedSandbox, ScriptedWorker
from selftaught.broker import Services, TaskUtility
from selftaught.config import Config
from selftaught.errors import RunLimitReached, ScorerError
from selftaught.evaluate import Evaluation, InstanceOutcome
from selftaught.lm import Backend, CompletionRequest, Generation, ScriptedBackend
from selftaught.safety.scan import count_flags, scan_program
from selftaught.sandbox import SandboxChoice
from selftaught.store import RunStore, program_hash, read_events
from selftaught.tasks import SplitSecret
from support import GOOD_SUM, TEST_SECRET, SumTask

PROGRAM = "def algorithm(a):\n    return 1\n"
OTHER = "def algorithm(a):\n    return 2\n"


class RecordingExecutor:
    """Stands in for the executor: records what it was asked to score and answers `score`."""

    name, workers = "test", 2

    def __init__(self, score: float = 0.5, before: Any = None) -> None:
        self.score = score
        self.before = before  # called first, with the program (to stop the run, wait, or fail meanwhile)
        self.calls: list[str] = []
        self.finished: list[str] = []
        self.closed = False

    def evaluate(self, task: Any, program: str, split: str, **kwargs: Any) -> Evaluation:
        self.calls.append(program)
        if self.before is not None:
            self.before(program)
        self.finished.append(program)
        outcome = InstanceOutcome(self.score, 0.01)
        return Evaluation(task.name, split, self.score, 0.25, outcomes=(outcome,), failures={"timeout": 1},
                          limits={"time_limit": 0.5}, clock="test")

    def close(self) -> None:
        self.closed = True


class CountingWorker(ScriptedWorker):
    """A scripted worker that counts how often it was killed."""

    def __init__(self) -> None:
        super().__init__([])
        self.kills = 0

    def kill(self) -> None:
        self.kills += 1
        super().kill()


class CountingSandbox(ScriptedSandbox):
    """Hands out CountingWorkers; `on_launch` runs while a worker starts."""

    def __init__(self, on_launch: Any = None) -> None:
        super().__init__([])
        self.on_launch = on_launch
        self.started: list[CountingWorker] = []

    def launch(self, seed: int = 0) -> CountingWorker:  # type: ignore[override]
        self.launched += 1
        worker = CountingWorker()
        self.started.append(worker)
        if self.on_launch is not None:
            self.on_launch()
        return worker


def services_for(executor: RecordingExecutor | None = None, tmp_path: Path | None = None, *,
                 sandbox: ScriptedSandbox | None = None, backend: Backend | None = None,
                 store: RunStore | None = None, **config: Any) -> Services:
    """Services that run no process: a recording executor, a scripted sandbox, a run store under tmp_path if given."""
    if store is None and tmp_path is not None:
        store = RunStore(tmp_path / "run")
    choice = SandboxChoice(sandbox or ScriptedSandbox([]))  # type: ignore[arg-type]
    return Services(Config(**config), backend or ScriptedBackend([GOOD_SUM]), store=store, sandbox=choice,
                    secret=TEST_SECRET, executor=executor or RecordingExecutor())


def events_of(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_events(tmp_path / "run") if e["kind"] == kind]


def memorising(secret: SplitSecret) -> str:
    """A program that knows the answers of the val instances `secret` makes, and nothing else."""
    answers = {tuple(int(x) for x in i.args[0]): i.hidden for i in SumTask().instances("val", secret)}
    return f"ANSWERS = {answers!r}\ndef algorithm(a):\n    return ANSWERS.get(tuple(int(x) for x in a), -1)\n"


def test_the_split_secret_given_to_the_services_decides_the_instances_not_the_environment() -> None:
    # The environment holds the tests' secret (see conftest); a run given another one must not score on its instances.
    other = SplitSecret.from_text("another-secret-for-this-test", "test")
    services = Services(Config(workers=1), ScriptedBackend([GOOD_SUM]), secret=other)
    assert services.evaluate(SumTask(), memorising(TEST_SECRET), "val").score == 0.0
    assert services.evaluate(SumTask(), memorising(other), "val").score == 1.0


def test_progress_messages_reach_the_callback_given_and_are_dropped_without_one() -> None:
    said: list[str] = []
    choice = SandboxChoice(ScriptedSandbox([]))  # type: ignore[arg-type]
    services = Services(Config(), ScriptedBackend([GOOD_SUM]), sandbox=choice, secret=TEST_SECRET,
                        executor=RecordingExecutor(), progress=said.append)
    services.progress("measuring I_0")
    assert said == ["measuring I_0"]
    services_for().progress("nobody listens")  # no callback: nothing happens, nothing breaks


def test_stopping_kills_the_running_improver_workers_and_refuses_new_work(tmp_path: Path) -> None:
    sandbox = CountingSandbox()
    executor = RecordingExecutor()
    services = services_for(executor, tmp_path, sandbox=sandbox)
    running = services.launch_worker(1)
    finished = services.launch_worker(2)
    services.release_worker(finished)
    assert finished.kills == 1 and finished.closed and running.kills == 0 and not running.closed
    services.stop()
    assert running.closed and running.kills == 1
    assert finished.kills == 1  # a worker already released is not the run's any more
    with pytest.raises(KeyboardInterrupt):
        services.launch_worker(3)
    assert sandbox.launched == 2
    with pytest.raises(KeyboardInterrupt):
        services.evaluate(SumTask(), PROGRAM, "val")
    assert executor.calls == []
    with pytest.raises(KeyboardInterrupt):
        services.check_caps()
    services.event("late", note="after the stop")
    assert events_of(tmp_path, "late") == []  # a stopping run records nothing more


def test_a_run_without_a_store_can_be_stopped() -> None:
    services = services_for()
    services.stop()
    with pytest.raises(KeyboardInterrupt):
        services.evaluate(SumTask(), PROGRAM, "val")


def test_a_worker_that_started_while_the_run_stopped_is_killed_and_refused() -> None:
    holder: list[Services] = []
    sandbox = CountingSandbox(on_launch=lambda: holder[0].stop())
    services = services_for(sandbox=sandbox)
    holder.append(services)
    with pytest.raises(KeyboardInterrupt):
        services.launch_worker(0)
    assert sandbox.started[0].closed


def test_closing_a_finished_run_waits_for_its_speculation_and_keeps_recording(tmp_path: Path) -> None:
    gate = threading.Event()
    executor = RecordingExecutor(before=lambda _program: gate.wait(10))
    services = services_for(executor, tmp_path, speculate=True)
    TaskUtility(services, SumTask(), "val", 5).speculate([GOOD_SUM])
    threading.Timer(0.3, gate.set).start()
    services.close()
    assert len(executor.finished) == 1 and executor.closed  # the speculative scoring ended before close returned
    services.event("summary", note="the run's last words")
    assert len(events_of(tmp_path, "summary")) == 1


def test_closing_an_interrupted_run_stops_it_without_waiting_for_speculation(tmp_path: Path) -> None:
    gate = threading.Event()
    executor = RecordingExecutor(before=lambda _program: gate.wait(10))
    sandbox = CountingSandbox()
    services = services_for(executor, tmp_path, sandbox=sandbox, speculate=True)
    worker = services.launch_worker(0)
    TaskUtility(services, SumTask(), "val", 5).speculate([GOOD_SUM])
    try:
        services.close(wait=False)
        assert worker.closed and executor.closed and executor.finished == []
        services.event("late", note="after the interruption")
        assert events_of(tmp_path, "late") == []
    finally:
        gate.set()


def test_the_usage_report_has_a_speculation_ledger_only_when_speculating() -> None:
    report = services_for().usage_report()
    assert report["calls"] == 0 and "speculation" not in report
    speculating = services_for(speculate=True).usage_report()
    assert speculating["calls"] == 0
    assert speculating["speculation"] == {"evaluations": 0, "evaluations_unused": 0, "meta_scores": 0,
                                          "meta_scores_unused": 0, "lm_calls_unused": 0}


def test_events_are_stamped_with_the_current_iteration(tmp_path: Path) -> None:
    services = services_for(tmp_path=tmp_path)
    services.event("first")
    services.iteration = 3
    services.event("second", note="x")
    assert [(e["iteration"], e.get("note")) for e in events_of(tmp_path, "first") + events_of(tmp_path, "second")] \
        == [(None, None), (3, "x")]
    services_for().event("nowhere")  # without a store, events go nowhere


def test_each_program_is_stored_once_with_its_static_safety_flags(tmp_path: Path) -> None:
    services = services_for(tmp_path=tmp_path)
    program = "import os\ndef algorithm(a):\n    return os.getpid()\n"
    assert services.save_program(program, "solution") == program_hash(program)
    assert services.save_program(program, "improver") == program_hash(program)
    assert services.save_program(None, "solution") is None
    assert (tmp_path / "run" / "programs" / f"{program_hash(program)}.py").read_text() == program
    seen = [(e["program"], e["role"], e["static_flags"]) for e in events_of(tmp_path, "program")]
    assert seen == [(program_hash(program), "solution", count_flags(scan_program(program)))]
    assert count_flags(scan_program(program))  # the flags are there to see
    assert services_for().save_program(program, "solution") == program_hash(program)  # without a store too


def test_no_program_scores_the_failure_score_without_a_worker() -> None:
    executor = RecordingExecutor()
    services = services_for(executor)
    task = SumTask()
    found = services.evaluate(task, None, "val")
    assert found.failure == "no_code" and found.score == task.failure_score
    assert services.evaluate(task, None, "val") == found
    assert executor.calls == []
    assert services.counters == {"evaluations": 1, "evaluations_cached": 1}
    assert services.evaluate(task, PROGRAM, "val").score == 0.5 and executor.calls == [PROGRAM]


def test_utility_call_events_name_the_program_and_whether_the_cache_served_it(tmp_path: Path) -> None:
    executor = RecordingExecutor(score=0.75)
    services = services_for(executor, tmp_path)
    task = SumTask()
    assert services.evaluate(task, PROGRAM, "val", use=1, purpose="ask").score == 0.75
    assert services.evaluate(task, PROGRAM, "val", use=2).score == 0.75
    assert services.evaluate(task, PROGRAM, "test", use=3).score == 0.75
    assert executor.calls == [PROGRAM, PROGRAM]  # once per split
    calls = [(e["program"], e["split"], e["cached"], e["use"], e.get("purpose"), e["score"], e["instances"])
             for e in events_of(tmp_path, "utility_call")]
    digest = program_hash(PROGRAM)
    assert calls == [(digest, "val", False, 1, "ask", 0.75, 1), (digest, "val", True, 2, None, 0.75, 1),
                     (digest, "test", False, 3, None, 0.75, 1)]


def test_a_speculative_evaluation_is_no_utility_call_until_an_improver_asks_for_it(tmp_path: Path) -> None:
    executor = RecordingExecutor()
    services = services_for(executor, tmp_path, speculate=True)
    task = SumTask()
    services.evaluate(task, PROGRAM, "val", speculative=True)
    assert events_of(tmp_path, "utility_call") == []
    assert services.usage_report()["speculation"]["evaluations_unused"] == 1
    services.evaluate(task, PROGRAM, "val", use=1)
    services.evaluate(task, PROGRAM, "val", use=2)
    # the first ask carries the record in full (counted), though speculation computed it; the second repeats it
    assert [e["cached"] for e in events_of(tmp_path, "utility_call")] == [False, True]
    ledger = services.usage_report()["speculation"]
    assert ledger["evaluations"] == 1 and ledger["evaluations_unused"] == 0
    assert executor.calls == [PROGRAM]


def test_an_evaluation_that_raised_fails_every_ask_that_waited_for_it_and_runs_again_later() -> None:
    services = services_for()
    outcomes: list[Any] = [ScorerError("the scorer broke"), None]

    def before(_program: str) -> None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            for _ in range(2000):  # until the second ask waits for this one
                if services.counters["evaluations_cached"] >= 1:
                    break
                threading.Event().wait(0.005)
            raise outcome

    services.executor = RecordingExecutor(before=before)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            services.evaluate(SumTask(), PROGRAM, "val")
        except ScorerError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(errors) == 2 and not any(t.is_alive() for t in threads)
    assert services.evaluate(SumTask(), PROGRAM, "val").score == 0.5


def test_a_resumed_run_reuses_its_recorded_evaluations_without_running_them(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    first = services_for(RecordingExecutor(score=0.75), store=store).evaluate(SumTask(), PROGRAM, "val")
    store.close()
    executor = RecordingExecutor(score=0.0)
    resumed = services_for(executor, store=RunStore(tmp_path / "run", resume=True))
    assert resumed.evaluate(SumTask(), PROGRAM, "val") == first
    assert executor.calls == []
    assert resumed.evaluate(SumTask(), OTHER, "val").score == 0.0 and executor.calls == [OTHER]


def test_a_damaged_journal_record_is_evaluated_again_not_trusted(tmp_path: Path) -> None:
    RunStore(tmp_path / "run").close()
    record = {"task": "sum", "split": "val", "program": program_hash(PROGRAM), "evaluation": {"score": 1.0}}
    (tmp_path / "run" / "evaluations.jsonl").write_text(json.dumps(record) + "\n")
    executor = RecordingExecutor(score=0.25)
    resumed = services_for(executor, store=RunStore(tmp_path / "run", resume=True))
    assert resumed.evaluate(SumTask(), PROGRAM, "val").score == 0.25 and executor.calls == [PROGRAM]


def test_an_evaluation_that_ends_while_the_run_stops_is_not_journaled(tmp_path: Path) -> None:
    holder: list[Services] = []
    services = services_for(RecordingExecutor(before=lambda _program: holder[0].stop()), tmp_path)
    holder.append(services)
    services.evaluate(SumTask(), PROGRAM, "val")
    assert (tmp_path / "run" / "evaluations.jsonl").read_text() == ""
    finished = services_for(RecordingExecutor(), tmp_path / "other")
    finished.evaluate(SumTask(), PROGRAM, "val")
    assert len((tmp_path / "other" / "run" / "evaluations.jsonl").read_text().splitlines()) == 1


class PricedBackend(Backend):
    """A model with a price: every call reads `tokens` input tokens."""

    name, model = "priced", "test-model"

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def generate(self, request: CompletionRequest) -> Generation:
        return Generation([GOOD_SUM] * request.n, input_tokens=self.tokens, requests=1)


def test_max_calls_stops_the_run_once_that_many_lm_calls_were_made() -> None:
    services = services_for(max_calls=2, lm_budget=10)
    lm = services.language_model("a", level="task")
    lm.prompt("e", "one")
    lm.prompt("e", "two")
    with pytest.raises(RunLimitReached, match=r"--max-calls 2 reached \(2 LM calls made\)"):
        lm.prompt("e", "three")
    with pytest.raises(RunLimitReached):  # run-wide: another improver's model too
        services.language_model("b", level="task").prompt("e", "four")
    uncapped = services_for(lm_budget=10).language_model("a", level="task")
    for i in range(5):
        uncapped.prompt("e", str(i))


def test_max_usd_stops_the_run_once_that_much_was_spent() -> None:
    prices = {"test-model": {"input": 10.0, "output": 0.0}}  # $0.01 per call of 1000 input tokens
    services = services_for(backend=PricedBackend(1000), max_usd=0.02, lm_budget=10, prices=prices)
    lm = services.language_model("a", level="task")
    lm.prompt("e", "one")
    lm.prompt("e", "two")
    with pytest.raises(RunLimitReached, match=r"--max-usd 0.02 reached \(\$0.0200 spent\)"):
        lm.prompt("e", "three")
    uncapped = services_for(backend=PricedBackend(1000), lm_budget=10, prices=prices).language_model("a", "task")
    for i in range(5):
        uncapped.prompt("e", str(i))


def test_an_lm_calls_recorded_cost_is_the_one_the_usage_report_counts(tmp_path: Path) -> None:
    prices = {"test-model": {"input": 0.123456789, "output": 0.0}}  # 1000 tokens: $0.000123456789
    services = services_for(tmp_path=tmp_path, backend=PricedBackend(1000), prices=prices)
    services.iteration = 2
    services.language_model("a", level="task").prompt("e", "m")
    report = services.usage_report()
    assert report["cost_usd"] > 0 and report["by_iteration"]["2"]["calls"] == 1
    assert [e["cost_usd"] for e in events_of(tmp_path, "lm_call")] == [report["cost_usd"]]
