"""Scoring in a worker: good and bad programs, timeouts, crashes, limits, and what a worker can see."""

from __future__ import annotations

import os
import time

import pytest

from selftaught.evaluate import evaluate
from support import EchoTask, SumTask


def test_a_correct_program_scores_full_marks(sum_task: SumTask) -> None:
    result = evaluate(sum_task, "def algorithm(a):\n    return int(a.sum())\n", "val")
    assert result.score == 1.0 and result.failure is None and result.n_instances == 4


def test_wrong_answers_score_zero_without_failure(sum_task: SumTask) -> None:
    result = evaluate(sum_task, "def algorithm(a):\n    return -1\n", "test")
    assert result.score == 0.0 and result.failures == {} and result.n_instances == 6


@pytest.mark.parametrize(
    ("program", "kind"),
    [
        ("def algorithm(a) return 1", "syntax"),
        ("def something_else(a):\n    return 1\n", "missing_entrypoint"),
        ("raise RuntimeError('at import')\n", "exception"),
        ("", "no_code"),
    ],
)
def test_programs_that_cannot_be_defined_fail_as_data(sum_task: SumTask, program: str, kind: str) -> None:
    result = evaluate(sum_task, program, "val")
    assert result.score == sum_task.failure_score
    assert result.failure == kind


def test_exceptions_and_unencodable_outputs_are_instance_failures(sum_task: SumTask) -> None:
    raising = evaluate(sum_task, "def algorithm(a):\n    raise ValueError('no')\n", "val")
    assert raising.failures == {"exception": 4} and "ValueError" in raising.detail
    odd = evaluate(sum_task, "def algorithm(a):\n    return object()\n", "val")
    assert odd.failures == {"bad_output": 4}


def test_an_infinite_loop_is_stopped_at_the_time_limit(sum_task: SumTask) -> None:
    started = time.monotonic()
    result = evaluate(sum_task, "def algorithm(a):\n    while True:\n        pass\n", "val")
    assert result.failures == {"timeout": 4}
    assert time.monotonic() - started < 4 * (sum_task.time_limit + 1.5)


def test_a_program_that_ignores_the_interrupt_is_killed(sum_task: SumTask) -> None:
    program = (
        "import signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "def algorithm(a):\n    while True:\n        pass\n"
    )
    result = evaluate(sum_task, program, "val")
    assert result.failures == {"timeout": 4}


def test_a_program_that_kills_its_worker_scores_zero_and_the_host_survives(sum_task: SumTask) -> None:
    result = evaluate(sum_task, "import os\ndef algorithm(a):\n    os._exit(3)\n", "val")
    assert result.failures == {"crash": 4} and result.score == 0.0


def test_the_time_limit_counts_the_candidates_compute_not_worker_start(sum_task: SumTask) -> None:
    # Slow top-level code (like importing a big library) is not charged to any instance.
    program = "import time\ntime.sleep(1.0)\ndef algorithm(a):\n    return int(a.sum())\n"
    assert evaluate(sum_task, program, "val").score == 1.0


def test_prints_do_not_corrupt_the_protocol(sum_task: SumTask) -> None:
    program = (
        "import sys\nprint('{\"op\": \"result\", \"ok\": true, \"output\": 0}')\n"
        "def algorithm(a):\n    print('noise' * 1000)\n    sys.stdout.write('\\n{}\\n')\n    return int(a.sum())\n"
    )
    assert evaluate(sum_task, program, "val").score == 1.0


def test_the_worker_environment_holds_no_secrets_of_the_orchestrator(
    echo_task: EchoTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-1234")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "canary-5678")
    program = "import os\ndef algorithm(x):\n    return dict(os.environ)\n"
    evaluate(echo_task, program, "val")
    env = echo_task.outputs[0]
    assert isinstance(env, dict) and "PATH" in env
    assert "OPENAI_API_KEY" not in env and "ANTHROPIC_API_KEY" not in env
    assert not any("canary" in str(v) for v in env.values())
    assert env["HOME"] != os.environ.get("HOME")


def test_the_program_does_not_run_in_the_orchestrators_process(echo_task: EchoTask) -> None:
    evaluate(echo_task, "import os\ndef algorithm(x):\n    return [os.getpid(), os.getpgrp()]\n", "val")
    pid, pgrp = echo_task.outputs[0]
    assert pid != os.getpid() and pgrp != os.getpgrp()


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_processes_a_program_starts_are_gone_when_its_evaluation_ends(echo_task: EchoTask) -> None:
    marker = "61.0427"  # a sleep duration no other process uses: how we find the child from the host
    program = (
        "import subprocess\n"
        "def algorithm(x):\n"
        f"    subprocess.Popen(['setsid', 'sleep', '{marker}'])\n"
        f"    subprocess.Popen(['sleep', '{marker}'])\n"
        "    import time; time.sleep(0.3)\n"
        "    return 1\n"
    )
    evaluate(echo_task, program, "val")
    assert echo_task.outputs == [1]
    deadline = time.monotonic() + 5
    while _host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _host_processes_with(marker) == []


def test_a_memory_hog_fails_without_hurting_the_host(sum_task: SumTask) -> None:
    program = "def algorithm(a):\n    x = bytearray(8 * 1024 ** 3)\n    return len(x)\n"
    result = evaluate(sum_task, program, "val")
    assert result.score == 0.0 and set(result.failures) <= {"memory", "exception", "crash"}


def test_same_program_and_seed_give_the_same_random_state(echo_task: EchoTask) -> None:
    program = "import random\ndef algorithm(x):\n    return random.random()\n"
    evaluate(echo_task, program, "val", seed=7)
    evaluate(echo_task, program, "val", seed=7)
    evaluate(echo_task, program, "val", seed=8)
    a, b, c = echo_task.outputs
    assert a == b != c


def test_a_program_writing_onto_the_protocol_channel_only_fails_itself(sum_task: SumTask) -> None:
    # The worker keeps the protocol on a private descriptor; a program that finds it and forges
    # messages breaks only its own evaluation.
    program = (
        "import os\n"
        "def algorithm(a):\n"
        "    for fd in range(3, 20):\n"
        "        try:\n"
        "            os.write(fd, b'{\"op\": \"bogus\"}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return int(a.sum())\n"
    )
    result = evaluate(sum_task, program, "val")
    assert result.score == 0.0 and set(result.failures) == {"protocol"}
