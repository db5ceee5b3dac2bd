"""The run's LM journal: a request answered before is answered again as it was (replies and accounting), a
refusal too, and its samples are keyed as `--cache replay` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.errors import LMRefused, UserError
from selftaught.lm import CompletionRequest, Generation
from selftaught.lm._base import Backend
from selftaught.lm._cached import CachedBackend
from selftaught.lm._journal import JournalBackend, check_journal
from selftaught.lm.cache import LMCache


class Counting(Backend):
    name, model = "fake", "fake-1"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, request: CompletionRequest) -> Generation:
        self.calls += 1
        if "refuse" in request.message:
            raise LMRefused("too long", 400)
        replies = [f"{request.message} #{i} call {self.calls}" for i in range(request.first_sample,
                                                                              request.first_sample + request.n)]
        return Generation(replies, input_tokens=7, output_tokens=5, requests=1, finish_reasons=["stop"] * request.n)


def test_a_journaled_request_is_replayed_with_its_replies_and_accounting(tmp_path: Path) -> None:
    request = CompletionRequest("sys", "hello", 0.7, 2, 0, 42)
    first = JournalBackend(Counting(), tmp_path / "lm-cache.sqlite", {"max_tokens": 10})
    got = first.generate(request)
    with pytest.raises(LMRefused):
        first.generate(CompletionRequest("sys", "refuse me", 0.7, 1, 0, 42))
    first.close()
    inner = Counting()
    again = JournalBackend(inner, tmp_path / "lm-cache.sqlite", {"max_tokens": 10})
    assert again.generate(request) == got  # same replies, tokens, requests: the same usage and cost
    with pytest.raises(LMRefused, match="too long") as refused:
        again.generate(CompletionRequest("sys", "refuse me", 0.7, 1, 0, 42))
    assert refused.value.status == 400
    assert inner.calls == 0 and again.replayed == 2
    assert again.generate(CompletionRequest("sys", "hello", 0.7, 1, 2, 42)).replies == ["hello #2 call 1"]
    assert inner.calls == 1
    again.close()


def test_its_samples_replay_through_the_cache_a_provider_run_uses(tmp_path: Path) -> None:
    path = tmp_path / "lm-cache.sqlite"
    journal = JournalBackend(Counting(), path, {"max_tokens": 10})
    request = CompletionRequest("sys", "hello", 0.7, 2, 0, 42)
    got = journal.generate(request)
    journal.close()
    replay = CachedBackend(Counting(), LMCache(path), "replay", {"max_tokens": 10})
    assert replay.generate(request).replies == got.replies


def test_a_journal_overwritten_with_garbage_is_refused_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "lm-cache.sqlite"
    journal = JournalBackend(Counting(), path, {"max_tokens": 10})
    journal.generate(CompletionRequest("sys", "hello", 0.7, 1, 0, 42))
    journal.close()
    check_journal(path)  # a sound journal passes
    check_journal(tmp_path / "none.sqlite")  # no journal yet: the resumed run makes one
    garbage = bytes(range(256)) * 16
    path.write_bytes(garbage)
    for refuse in (check_journal, lambda p: JournalBackend(Counting(), p, {})):
        with pytest.raises(UserError) as refused:
            refuse(path)
        message = str(refused.value)
        assert message.startswith(f"{path}, the run's LM journal, is not ")
        assert "move it aside to resume without it" in message and "\n" not in message
    assert path.read_bytes() == garbage  # refused without a write
