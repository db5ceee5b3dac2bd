"""The split secret: where it comes from, that it decides the instances, and that it is never written out."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from selftaught.config import Config, build_config
from selftaught.errors import ConfigError
from selftaught.tasks import SplitSecret, get_task, load_split_secret
from selftaught.tasks._secret import ENV_VAR


def first_args(name: str, secret: SplitSecret, split: str = "test") -> list[np.ndarray]:
    return [np.asarray(a) for a in get_task(name).instances(split, secret)[0].args]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_secret_is_made_on_first_use_private_and_kept(
    private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    first = load_split_secret()
    path = private_config_dir / "selftaught" / "split-secret"
    assert first.source == "file" and first.path == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) == 64  # 32 random bytes, hex
    again = load_split_secret()
    assert again.fingerprint == first.fingerprint and again.key == first.key


def test_the_environment_overrides_the_file_and_the_flag_overrides_both(
    private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    from_file = load_split_secret()
    monkeypatch.setenv(ENV_VAR, "shared-benchmark-secret")
    from_env = load_split_secret()
    assert from_env.source == "environment" and from_env.key == b"shared-benchmark-secret"
    from_flag = load_split_secret("another")
    assert from_flag.source == "flag" and from_flag.key == b"another"
    assert len({from_file.fingerprint, from_env.fingerprint, from_flag.fingerprint}) == 3


def test_a_secret_file_others_can_read_is_refused_with_the_fix(
    private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    secret = load_split_secret()
    assert secret.path is not None
    os.chmod(secret.path, 0o644)
    with pytest.raises(ConfigError, match=r"open to other users \(mode 644\); make it private: chmod 600 "):
        load_split_secret()


def test_a_secret_file_of_raw_bytes_is_refused_with_a_fix_that_works(
    private_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    path = private_config_dir / "selftaught" / "split-secret"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00\x9c" * 8)  # 32 random-looking bytes: not UTF-8
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_split_secret()
    message = str(caught.value)
    assert message.startswith(f"the split secret {path} is not text: it must be one line of text (selftaught writes "
                              "64 hex characters); to use random bytes, write them in hex: ")
    subprocess.run(["sh", "-c", message.split("write them in hex: ", 1)[1]], check=True)
    secret = load_split_secret()
    assert len(path.read_text().strip()) == 64 and len(secret.key) == 64 and secret.source == "file"


@pytest.mark.parametrize("text", ["", "   ", "two\nlines", "x" * 5000])
def test_an_empty_or_malformed_secret_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="split secret"):
        SplitSecret.from_text(text, "flag")


def test_the_same_secret_gives_the_same_instances_and_another_secret_others() -> None:
    a, b = SplitSecret.from_text("alpha", "flag"), SplitSecret.from_text("beta", "flag")
    for name in ("lpn", "maxcut", "three_sat", "str_grid_dist"):
        assert same(first_args(name, a), first_args(name, SplitSecret.from_text("alpha", "environment")))
        assert not same(first_args(name, a), first_args(name, b))


def test_val_and_test_and_each_instance_come_from_their_own_seed() -> None:
    secret = SplitSecret.from_text("alpha", "flag")
    seeds = {secret.instance_seed("parity_noise", split, 1, i) for split in ("val", "test") for i in range(50)}
    assert len(seeds) == 100
    assert secret.instance_seed("parity_noise", "val", 1, 0) != secret.instance_seed("parity_noise", "val", 2, 0)
    assert secret.instance_seed("parity_noise", "val", 1, 0) != secret.instance_seed("maxcut", "val", 1, 0)


def test_the_public_split_seeds_alone_no_longer_give_the_instances() -> None:
    # What a candidate could do before: re-create the split from the seed in the source and the docs.
    task = get_task("lpn")
    public = task.make_instance(np.random.default_rng(task.split_seeds["test"]), 0)
    secret = SplitSecret.from_text("alpha", "flag")
    real = task.instances("test", secret)[0]
    assert not np.array_equal(public.args[2], real.args[2])


def test_the_secret_is_never_printed_or_written_with_the_config() -> None:
    config = build_config({"split_secret": "do-not-print-me"})
    assert config.split_secret == "do-not-print-me"
    assert "do-not-print-me" not in repr(config) and "split_secret" not in config.to_dict()
    secret = load_split_secret(config.split_secret)
    assert "do-not-print-me" not in repr(secret) and "do-not-print-me" not in str(secret.record())
    assert secret.record() == {"fingerprint": secret.fingerprint, "source": "flag", "path": None}
    assert Config().to_dict().keys() == config.to_dict().keys()


def test_the_fingerprint_is_short_public_and_stable() -> None:
    secret = SplitSecret.from_text("alpha", "flag")
    assert secret.fingerprint == SplitSecret.from_text("  alpha\n", "environment").fingerprint
    assert len(secret.fingerprint) == 16 and int(secret.fingerprint, 16) >= 0
    assert "alpha" not in secret.fingerprint
