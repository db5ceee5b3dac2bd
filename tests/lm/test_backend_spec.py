"""`--lm SPEC` parsing: the default mutate backend, scripted files, and clear errors otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from selftaught.config import Config
from selftaught.errors import UserError
from selftaught.lm import MutateBackend, ScriptedBackend, parse_backend, spec_source
from selftaught.lm._cached import CachedBackend
from selftaught.lm.openai_backend import OpenAIBackend


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


@pytest.mark.parametrize("spec", ["openai", "anthropic:", "ollama: "])
def test_a_provider_without_a_model_is_a_user_error(spec: str) -> None:
    with pytest.raises(UserError, match="needs a model"):
        parse_backend(spec)


def test_openai_without_a_key_or_endpoint_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match="set OPENAI_API_KEY"):
        parse_backend("openai:gpt-4o", Config(cache="off"))


@pytest.mark.parametrize(
    ("spec", "url", "supports_n"),
    [("ollama:llama3", "http://localhost:11434/v1", False), ("vllm:mixtral", "http://localhost:8000/v1", True)],
)
def test_local_shortcuts_fill_in_the_usual_base_urls(spec: str, url: str, supports_n: bool) -> None:
    backend = parse_backend(spec, Config(cache="off"))
    assert isinstance(backend, OpenAIBackend)
    assert str(backend.client.base_url).rstrip("/") == url and backend.supports_n is supports_n
    assert backend.model == spec.split(":")[1] and backend.name == spec.split(":")[0]


def test_openai_base_url_comes_from_the_environment_and_the_cache_wraps_real_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    backend = parse_backend("openai:local-model", Config(cache_path=str(tmp_path / "c.sqlite")))
    assert isinstance(backend, CachedBackend) and backend.mode == "record"
    assert isinstance(backend.inner, OpenAIBackend)
    assert str(backend.inner.client.base_url).startswith("http://127.0.0.1:9/v1")


def test_anthropic_without_its_package_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # as if not installed
    with pytest.raises(UserError, match=r"pip install 'selftaught\[anthropic\]'"):
        parse_backend("anthropic:claude-sonnet-4-0", Config(cache="off"))


def test_importing_selftaught_does_not_need_the_anthropic_package() -> None:
    code = "import sys; sys.modules['anthropic'] = None; import selftaught, selftaught.cli; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


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


@pytest.mark.parametrize(("value", "says"), [("garbage", "unknown LM spec 'garbage'"),
                                             ("openai:", "openai needs a model"),
                                             ("mutate:x", "mutate takes no argument")])
def test_a_bad_spec_in_the_environment_variable_is_reported_as_that_variable(
    value: str, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selftaught.cli import main

    monkeypatch.setenv("SELFTAUGHT_LM", value)
    assert main(["improve", "parity_noiseless"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("selftaught: error: ") and says in line
    assert "the SELFTAUGHT_LM environment variable" in line and "--lm" not in line


def test_a_bad_spec_in_a_config_file_names_the_file_and_one_on_the_flag_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selftaught.cli import main

    monkeypatch.setenv("SELFTAUGHT_LM", "garbage")  # overridden by both
    toml = tmp_path / "run.toml"
    toml.write_text('lm = "nonsense"\n')
    assert main(["improve", "parity_noiseless", "--config", str(toml)]) == 2
    assert f"unknown LM spec 'nonsense' in `lm` of {toml}" in capsys.readouterr().err
    assert main(["improve", "parity_noiseless", "--config", str(toml), "--lm", "gpt"]) == 2
    assert "selftaught: error: unknown --lm spec 'gpt'" in capsys.readouterr().err


def test_spec_source_follows_the_order_flag_then_config_file_then_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_lm, without_lm = tmp_path / "a.toml", tmp_path / "b.toml"
    with_lm.write_text('lm = "mutate"\n')
    without_lm.write_text("seed = 3\n")
    monkeypatch.setenv("SELFTAUGHT_LM", "mutate")
    assert spec_source("mutate", str(with_lm)) == "--lm"
    assert spec_source(None, str(with_lm)) == str(with_lm)
    assert spec_source(None, str(without_lm)) == "SELFTAUGHT_LM"
    monkeypatch.delenv("SELFTAUGHT_LM")
    assert spec_source(None, None) == "--lm"  # the default
    with pytest.raises(UserError, match="unknown LM spec 'x' in the SELFTAUGHT_LM environment variable"):
        parse_backend("x", source="SELFTAUGHT_LM")
