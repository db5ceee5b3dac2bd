"""A speculative meta-score's records (runs, programs, utility calls, safety flags) are written at its first ask."""

from __future__ import annotations

import faulthandler
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from selftaught.broker import Services, TaskUtility
from selftaught.safety.report import safety_summary
from selftaught.stop.meta_utility import MetaUtility, MetaUtilityService
from selftaught.store import RunStore, event_fingerprint, program_hash, read_events
from selftaught.tasks import Instance
from support import SumTask, make_services

HANG_SECONDS = 180
WAIT = 60.0  # seconds a step may take on a loaded machine before the test gives up

# Asks the LM once; scores, then returns, the solution it got (which reads a file: a runtime and a static flag).
ASKED = '''from helpers import extract_code

def improve_algorithm(initial_solution, utility, language_model):
    code = extract_code(language_model.prompt("asked", initial_solution)[0])
    utility(code)
    return code'''
PEEKING_SUM = ("```python\ndef algorithm(a):\n    try:\n        open('/etc/hostname').read()\n    except OSError:\n"
               "        pass\n    return int(sum(int(x) for x in a))\n```")
# SNEAKY's solution: reads a file (a runtime and a static flag) and sums right.
PEEK = ("def algorithm(a):\n    try:\n        open('/etc/hostname').read()\n    except OSError:\n        pass\n"
        "    return int(sum(int(x) for x in a))\n")
# Asks the LM once (spending), turns the sandbox flag off and scores PEEK.
SNEAKY = f'''def improve_algorithm(initial_solution, utility, language_model):
    language_model.prompt("sneaky", initial_solution)
    utility({PEEK!r}, use_sandbox=False)
    return {PEEK!r}'''
SCRIPT = [{"match": "asked", "response": PEEKING_SUM}, {"match": "sneaky", "response": "no code"}]
REPLIES = [f"```python\n{ASKED}\n```", f"```python\n{SNEAKY}\n```"]  # an improving improver's LM call


class GatedSum(SumTask):
    """The sum task, whose scoring waits until `gate` is open (to hold a scoring in flight)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.reached = threading.Event()

    def score_output(self, instance: Instance, output: Any, elapsed: float) -> float:
        self.reached.set()
        assert self.gate.wait(WAIT), "the gate was never opened"
        return super().score_output(instance, output, elapsed)


@pytest.fixture(autouse=True)
def no_test_hangs() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def services_for(root: Path, *, speculate: bool, resume: bool = False) -> Services:
    if not resume:
        return make_services(SCRIPT, root, downstream_runs=1, speculate=speculate)
    services = make_services(SCRIPT, None, downstream_runs=1, speculate=speculate)
    services.store = RunStore(root / "run", resume=True)
    return services


def close(services: Services) -> None:
    services.close()
    assert services.store is not None
    services.store.close()


def record(root: Path) -> Counter[str]:
    """The run's events without timing (`load_time` is measured CPU time)."""
    return Counter(event_fingerprint({k: v for k, v in e.items() if k != "load_time"})
                   for e in read_events(root / "run"))


def ask_after_speculating(root: Path, task: SumTask, *, speculate: bool) -> Services:
    """An improving improver's LM call returned ASKED and SNEAKY; it asks for ASKED only."""
    services = services_for(root, speculate=speculate)
    service = MetaUtilityService(MetaUtility(services, [task]), budget=5)
    service.speculate(REPLIES)
    services.speculation.drain()
    assert service(ASKED, [], {}) == 1.0
    close(services)
    return services


def lm_streams(root: Path) -> list[str]:
    return sorted(e["stream"] for e in read_events(root / "run") if e["kind"] == "lm_call")


def test_an_unasked_speculative_score_records_only_its_lm_calls(tmp_path: Path) -> None:
    plain = ask_after_speculating(tmp_path / "plain", SumTask(), speculate=False)
    speculating = ask_after_speculating(tmp_path / "speculating", SumTask(), speculate=True)
    assert speculating.usage_report()["speculation"]["meta_scores_unused"] == 1  # SNEAKY was scored, unasked
    safety = safety_summary(read_events(tmp_path / "plain" / "run"))["run"]
    assert safety["runtime"]["file_read"] > 0 and safety["static_flags"] == {"file_read": 1}, safety
    assert safety_summary(read_events(tmp_path / "speculating" / "run"))["run"] == safety
    # Every record of the asked score, once; of the unasked one, its LM call only (spending, counted in usage).
    extra = record(tmp_path / "speculating") - record(tmp_path / "plain")
    assert not record(tmp_path / "plain") - record(tmp_path / "speculating")
    assert lm_streams(tmp_path / "speculating") == sorted([*lm_streams(tmp_path / "plain"),
                                                           f"select/{program_hash(SNEAKY)}/sum/0"])
    assert sum(extra.values()) == 1 and '"kind": "lm_call"' in next(iter(extra))
    assert speculating.usage.total["calls"] == plain.usage.total["calls"] + 1


def kinds(root: Path) -> list[str]:
    """The run's event kinds in order, with the program each is about (LM calls left out: never held)."""
    return [f"{e['kind']} {e.get('program') or e.get('improver') or ''}" for e in read_events(root / "run")
            if e["kind"] != "lm_call"]


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_an_ask_while_the_speculative_score_runs_records_it_once_in_order(tmp_path: Path) -> None:
    plain_task = GatedSum()
    plain_task.gate.set()
    ask_after_speculating(tmp_path / "plain", plain_task, speculate=False)

    task = GatedSum()
    services = services_for(tmp_path / "speculating", speculate=True)
    service = MetaUtilityService(MetaUtility(services, [task]), budget=5)
    service.speculate(REPLIES[:1])
    assert task.reached.wait(WAIT)  # ASKED's downstream run is scoring its solution: its records are held
    assert kinds(tmp_path / "speculating") == []
    asker = threading.Thread(target=lambda: service(ASKED, [], {}), daemon=True)
    asker.start()  # the first ask writes what was held, then waits for the rest, which is written as it comes
    wait_for(lambda: kinds(tmp_path / "speculating"), "the ask wrote the held records")
    task.gate.set()
    asker.join(WAIT)
    assert not asker.is_alive()
    close(services)
    assert kinds(tmp_path / "speculating") == kinds(tmp_path / "plain")
    assert record(tmp_path / "speculating") == record(tmp_path / "plain")


def test_a_run_stopped_while_speculative_scores_are_held_resumes_to_the_uninterrupted_record(tmp_path: Path) -> None:
    open_task = GatedSum()
    open_task.gate.set()
    ask_after_speculating(tmp_path / "uninterrupted", open_task, speculate=True)

    task = GatedSum()
    services = services_for(tmp_path / "stopped", speculate=True)
    MetaUtilityService(MetaUtility(services, [task]), budget=5).speculate(REPLIES)
    wait_for(lambda: len(lm_streams(tmp_path / "stopped")) == 2, "both speculative scores called the LM")
    assert task.reached.wait(WAIT)
    services.stop()  # Ctrl-C: what is held is dropped, the store records nothing more
    task.gate.set()
    services.speculation.drain()
    close(services)
    assert {e["kind"] for e in read_events(tmp_path / "stopped" / "run")} == {"lm_call"}  # spending only

    resumed = services_for(tmp_path / "stopped", speculate=True, resume=True)  # as `run --resume` reopens it
    assert resumed.store is not None and resumed.store.events_recorded == 2
    service = MetaUtilityService(MetaUtility(resumed, [task]), budget=5)
    service.speculate(REPLIES)
    resumed.speculation.drain()
    assert service(ASKED, [], {}) == 1.0
    assert resumed.store.unmatched_events() == 0  # the replayed LM calls matched the recorded ones
    close(resumed)
    assert record(tmp_path / "stopped") == record(tmp_path / "uninterrupted")


def ask_for_sneakys_solution(root: Path, *, speculate: bool) -> list[dict[str, Any]]:
    """SNEAKY is speculated on and never asked for; then a task utility is asked for the solution it scored."""
    services = services_for(root, speculate=speculate)
    task = SumTask()
    MetaUtilityService(MetaUtility(services, [task]), budget=5).speculate(REPLIES[1:])
    services.speculation.drain()
    assert TaskUtility(services, task, "val", 5)(PEEK, [], {}) == 1.0
    close(services)
    return read_events(root / "run")


def test_what_an_unasked_score_evaluated_is_asked_for_the_first_time_later(tmp_path: Path) -> None:
    plain = ask_for_sneakys_solution(tmp_path / "plain", speculate=False)
    speculating = ask_for_sneakys_solution(tmp_path / "speculating", speculate=True)
    calls = [e for e in speculating if e["kind"] == "utility_call"]
    assert len(calls) == 1 and calls[0]["cached"] is False  # not a repeat of SNEAKY's own (unwritten) ask
    assert [e["program"] for e in speculating if e["kind"] == "program"] == [program_hash(PEEK)]
    counts = safety_summary(speculating)["run"]
    assert counts == safety_summary(plain)["run"] and counts["runtime"]["file_read"] == 4, counts


def test_held_records_carry_the_iteration_of_the_ask(tmp_path: Path) -> None:
    services = services_for(tmp_path, speculate=True)
    service = MetaUtilityService(MetaUtility(services, [SumTask()]), budget=5)
    services.iteration = 1
    service.speculate(REPLIES[:1])
    services.speculation.drain()
    services.iteration = 2  # asked for by the next iteration's improver
    service(ASKED, [], {})
    close(services)
    iterations = Counter((e["kind"], e["iteration"]) for e in read_events(tmp_path / "run"))
    assert iterations == {("lm_call", 1): 1, ("program", 2): 2, ("utility_call", 2): 2, ("improver_run", 2): 1}
