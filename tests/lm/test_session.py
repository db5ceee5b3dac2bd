"""The orchestrator-side language model: budgets, limits, and replies that do not depend on call order."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from selftaught.errors import BudgetExceeded, LMError, LMRefused
from selftaught.lm import Backend, CompletionRequest, Generation, MutateBackend, ScriptedBackend
from selftaught.lm.cache import CacheMiss
from selftaught.lm.session import BackendFault, LanguageModel
from selftaught.lm.usage import UsageMeter


def lm(backend: Any = None, **kwargs: Any) -> LanguageModel:
    args: dict[str, Any] = {"budget": 4, "max_responses_per_call": 6, **kwargs}
    return LanguageModel(backend or ScriptedBackend(["a", "b", "c"]), **args)


def test_each_prompt_or_batch_is_one_call_and_the_budget_is_enforced() -> None:
    model = lm(budget=2)
    assert model.batch_prompt("s", ["m"] * 3) == ["a", "b", "c"]
    assert model.prompt("s", "m", n_responses=2) == ["a", "b"]  # the 4th and 5th samples, cycling
    with pytest.raises(BudgetExceeded, match="exceeded your call budget"):
        model.prompt("s", "m")
    assert model.times_used == 2


def test_identical_requests_continue_their_sample_sequence_while_different_ones_start_fresh() -> None:
    model = lm()
    assert model.prompt("s", "x") == ["a"]
    assert model.prompt("s", "x") == ["b"]
    assert model.prompt("s", "y") == ["a"]
    assert model.prompt("s", "x", temperature=0.2) == ["a"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.prompt("s", "m", n_responses=7), "at most 6"),
        (lambda m: m.batch_prompt("s", ["m"] * 7), "at most 6"),
        (lambda m: m.prompt(3, "m"), "expertise"),
        (lambda m: m.batch_prompt("s", []), "non-empty"),
        (lambda m: m.prompt("s", "m", temperature=9), "temperature"),
    ],
)
def test_malformed_calls_are_refused_with_a_message(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(lm())


def test_replies_depend_on_seed_stream_and_request_not_on_concurrent_arrival() -> None:
    prompt = "Improve:\n```python\ndef algorithm(x):\n    return x + 1\n```\n"

    def replies(run_seed: int, stream: str, noise: bool) -> list[str]:
        model = lm(MutateBackend(), run_seed=run_seed, stream=stream)
        if noise:  # other streams calling concurrently must not change this stream's replies
            others = [lm(MutateBackend(), run_seed=run_seed, stream=f"o{i}") for i in range(4)]
            threads = [threading.Thread(target=o.batch_prompt, args=("s", [prompt] * 6)) for o in others]
            for t in threads:
                t.start()
            out = model.batch_prompt("s", [prompt] * 6)
            for t in threads:
                t.join()
            return out
        return model.batch_prompt("s", [prompt] * 6)

    assert replies(1, "a", False) == replies(1, "a", True)
    assert replies(1, "a", False) != replies(1, "b", False)
    assert replies(1, "a", False) != replies(2, "a", False)


def test_every_call_is_reported_with_request_and_replies() -> None:
    seen: list[dict[str, Any]] = []
    model = lm(on_call=seen.append, stream="st", level="meta")
    model.batch_prompt("sys", ["m1", "m2"], temperature=0.5)
    (record,) = seen
    assert record["system"] == "sys" and record["messages"] == ["m1", "m2"]
    assert record["replies"] == ["a", "a"] and record["temperature"] == 0.5
    assert record["level"] == "meta" and record["stream"] == "st"


class RefusingBackend(Backend):
    """Refuses every request whose message contains "refuse"; answers the others with one token each."""

    name = "refusing"
    model = "m"

    def generate(self, request: CompletionRequest) -> Generation:
        if "refuse" in request.message:
            raise LMRefused("refusing:m: the request was refused (HTTP 400: too long)", 400)
        return Generation([f"ok {request.message}"] * request.n, 5, 1, 1, 0, ["stop"] * request.n)


def test_a_refused_call_counts_against_the_budget_is_reported_and_raised() -> None:
    seen: list[dict[str, Any]] = []
    meter = UsageMeter({})
    model = lm(RefusingBackend(), budget=2, on_call=lambda r: (seen.append(r), meter.add(r, 1)))
    with pytest.raises(LMRefused, match="too long") as info:
        model.prompt("s", "please refuse", n_responses=2)
    assert info.value.status == 400 and model.times_used == 1 and model.responses == 0
    (record,) = seen
    assert record["refused"] is True and record["error"] == str(info.value)
    assert (record["replies"], record["input_tokens"], record["output_tokens"], record["requests"]) == ([], 0, 0, 0)
    assert record["samples"] == [0, 1] and record["messages"] == ["please refuse"] * 2
    assert model.prompt("s", "fine") == ["ok fine"]  # the session goes on
    with pytest.raises(BudgetExceeded):
        model.prompt("s", "fine")
    usage = meter.report()
    assert (usage["calls"], usage["refused_calls"], usage["input_tokens"]) == (2, 1, 5)
    assert usage["by_iteration"]["1"]["refused_calls"] == 1


def test_a_batch_with_a_refused_message_raises_after_every_message_was_answered() -> None:
    seen: list[dict[str, Any]] = []
    model = lm(RefusingBackend(), on_call=seen.append)
    with pytest.raises(LMRefused):
        model.batch_prompt("s", ["a", "refuse b", "c"])
    (record,) = seen
    assert record["refused"] is True and record["replies"] == []
    assert (record["input_tokens"], record["requests"]) == (10, 2)  # what the two answered messages used


def test_an_answered_call_says_it_was_not_refused_and_whether_tokens_were_estimated() -> None:
    seen: list[dict[str, Any]] = []
    lm(on_call=seen.append).prompt("s", "m")
    (record,) = seen
    assert record["refused"] is False and record["error"] is None
    assert record["estimated_tokens"] is True and record["estimated_reason"] == "offline backend"


class FaultyBackend(Backend):
    """Raises `error` on messages containing "boom"; answers the others (or with `replies` texts, if given)."""

    name = "faulty"

    def __init__(self, error: BaseException, replies: list[Any] | None = None) -> None:
        self.error = error
        self.replies = replies

    def generate(self, request: CompletionRequest) -> Generation:
        if "boom" in request.message:
            raise self.error
        return Generation(self.replies if self.replies is not None else ["ok"] * request.n, 3, 1, 1)


@pytest.mark.parametrize("error", [RecursionError("maximum recursion depth exceeded"), ValueError("bad"),
                                   KeyError("choices"), MemoryError()])
def test_any_unexpected_exception_in_a_backend_is_that_calls_lm_error(error: BaseException) -> None:
    seen: list[dict[str, Any]] = []
    meter = UsageMeter({})
    model = lm(FaultyBackend(error), budget=2, on_call=lambda r: (seen.append(r), meter.add(r, None)))
    with pytest.raises(LMRefused, match=f"faulty: the backend failed on this request: {type(error).__name__}") as info:
        model.batch_prompt("s", ["fine", "boom"])
    assert isinstance(info.value, BackendFault) and model.times_used == 1
    (record,) = seen
    assert record["refused"] is True and record["backend_fault"] is True and record["error"] == str(info.value)
    assert record["input_tokens"] == 3  # the message that was answered still counts
    assert model.prompt("s", "fine") == ["ok"]  # the session goes on, and the budget counted the failed call
    with pytest.raises(BudgetExceeded):
        model.prompt("s", "fine")
    assert meter.report()["refused_calls"] == 1


@pytest.mark.parametrize("error", [LMError("authentication failed"), CacheMiss(provider="p", model="m", system="s",
                                                                             message="boom", sample=0)])
def test_selftaughts_own_errors_from_a_backend_stay_fatal(error: Exception) -> None:
    seen: list[dict[str, Any]] = []
    model = lm(FaultyBackend(error), on_call=seen.append)
    with pytest.raises(type(error)):
        model.prompt("s", "boom")
    assert seen == []


@pytest.mark.parametrize("replies", [["only one"], ["a", 2], []])
def test_a_backend_that_returns_the_wrong_replies_fails_that_call(replies: list[Any]) -> None:
    model = lm(FaultyBackend(RuntimeError(), replies=replies))
    with pytest.raises(BackendFault, match=r"not 2 texts"):
        model.prompt("s", "fine", n_responses=2)


def test_a_message_with_a_lone_surrogate_is_answered() -> None:
    assert len(lm(MutateBackend()).prompt("s", "```python\nx = 1\n```\n\ud800", n_responses=2)) == 2
