"""The scripted backend: replies from a JSON/JSONL script, matched by substring, cycled by sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftaught.errors import UserError
from selftaught.lm import CompletionRequest, ScriptedBackend


def request(message: str = "hello", *, system: str = "sys", n: int = 1, first: int = 0) -> CompletionRequest:
    return CompletionRequest(system, message, 0.7, n, first, seed=0)


def test_string_entries_cycle_over_the_samples() -> None:
    backend = ScriptedBackend(["one", "two", "three"])
    assert backend.complete(request(n=5)) == ["one", "two", "three", "one", "two"]


def test_first_sample_offsets_into_the_cycle() -> None:
    backend = ScriptedBackend(["one", "two", "three"])
    assert backend.complete(request(n=2, first=2)) == ["three", "one"]
    assert backend.complete(request(n=1, first=7)) == ["two"]


def test_only_entries_whose_match_occurs_in_the_request_are_used() -> None:
    backend = ScriptedBackend([
        {"match": "improve_algorithm", "response": "meta"},
        {"match": "parity", "response": "base-1"},
        {"response": "anything"},
        {"match": "parity", "response": "base-2"},
    ])
    assert backend.complete(request("solve parity", n=4)) == ["base-1", "anything", "base-2", "base-1"]
    assert backend.complete(request("def improve_algorithm(...)", n=2)) == ["meta", "anything"]


def test_match_is_looked_up_in_the_system_prompt_too() -> None:
    backend = ScriptedBackend([{"match": "expert", "response": "from system"}])
    assert backend.complete(request("plain message", system="You are an expert")) == ["from system"]


def test_no_matching_entry_gives_a_reply_without_a_code_block() -> None:
    backend = ScriptedBackend([{"match": "never-present", "response": "```python\nx = 1\n```"}])
    replies = backend.complete(request(n=2))
    assert len(replies) == 2
    assert all("```" not in reply and "scripted" in reply.lower() for reply in replies)


def test_replies_depend_only_on_the_request_and_sample_index() -> None:
    backend = ScriptedBackend(["a", "b", "c"])
    backend.complete(request("other", n=2))
    assert backend.complete(request(n=3)) == backend.complete(request(n=3)) == ["a", "b", "c"]


def test_loads_a_json_list_file(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(["plain", {"match": "hello", "response": "hi"}]), encoding="utf-8")
    backend = ScriptedBackend(path)
    assert backend.complete(request("hello", n=2)) == ["plain", "hi"]
    assert str(path) in backend.notice
    assert "no language model" in backend.notice


def test_loads_a_jsonl_file_skipping_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "script.jsonl"
    path.write_text('"first"\n\n{"response": "second"}\n', encoding="utf-8")
    assert ScriptedBackend(str(path)).complete(request(n=2)) == ["first", "second"]


def test_a_file_without_a_known_suffix_may_be_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "script.txt"
    path.write_text('"first"\n"second"\n', encoding="utf-8")
    assert ScriptedBackend(path).complete(request(n=2)) == ["first", "second"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("bad.json", "[not json", "invalid JSON"),
        ("object.json", '{"response": "x"}', "expected a JSON list"),
        ("empty.json", "[]", "no entries"),
        ("number.json", "[1]", "entry 1 is a number"),
        ("noresponse.json", '[{"match": "x"}]', "entry 1 needs \"response\""),
        ("badmatch.json", '["ok", {"match": 3, "response": "x"}]', "entry 2 needs \"match\""),
        ("typo.json", '[{"reponse": "x"}]', "unknown key(s) reponse"),
        ("bad.jsonl", '"ok"\n{oops\n', "line 2 is not valid JSON"),
        ("empty.jsonl", "\n\n", "no entries"),
    ],
)
def test_malformed_files_raise_a_one_line_user_error_naming_the_file(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as info:
        ScriptedBackend(path)
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_a_missing_file_raises_a_user_error() -> None:
    with pytest.raises(UserError, match="not found"):
        ScriptedBackend("/nonexistent/script.json")


def test_malformed_entries_given_directly_raise_a_user_error() -> None:
    with pytest.raises(UserError, match="entry 2"):
        ScriptedBackend(["ok", ["not", "an", "entry"]])
    with pytest.raises(UserError, match="no entries"):
        ScriptedBackend([])
