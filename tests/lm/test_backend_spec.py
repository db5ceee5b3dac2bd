"""`--lm SPEC` parsing: the default mutate backend, scripted files, and clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.errors import UserError
from selftaught.lm import MutateBackend, ScriptedBackend, parse_backend


@pytest.mark.parametrize("spec", [None, "", "mutate", " mutate "])
def test_default_and_mutate_give_the_mutate_backend(spec: str | None) -> None:
    assert isinstance(parse_backend(spec), MutateBackend)


def test_scripted_spec_loads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "replies.json"
    path.write_text('["hello"]', encoding="utf-8")
    backend = parse_backend(f"scripted:{path}")
    assert isinstance(backend, ScriptedBackend)
    assert backend.entries[0].response == "hello"


def test_scripted_spec_with_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        parse_backend(f"scripted:{tmp_path / 'absent.json'}")


def test_scripted_spec_without_a_path_is_a_user_error() -> None:
    with pytest.raises(UserError, match="scripted:PATH"):
        parse_backend("scripted:")


@pytest.mark.parametrize("spec", ["openai:gpt-4", "anthropic:claude", "ollama:llama3", "vllm:mixtral", "openai"])
def test_real_providers_are_announced_for_a_later_release(spec: str) -> None:
    with pytest.raises(UserError) as info:
        parse_backend(spec)
    message = str(info.value)
    assert "later release" in message
    assert "mutate" in message and "scripted:PATH" in message


@pytest.mark.parametrize("spec", ["gpt4", "mutate:fast", "random:3"])
def test_unknown_specs_list_the_valid_forms(spec: str) -> None:
    with pytest.raises(UserError) as info:
        parse_backend(spec)
    assert "mutate" in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_spec_message_lists_scripted_and_providers() -> None:
    with pytest.raises(UserError) as info:
        parse_backend("gpt4")
    message = str(info.value)
    assert "scripted:PATH" in message and "openai:MODEL" in message
