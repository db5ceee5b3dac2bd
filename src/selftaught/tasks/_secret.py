"""The split secret: the key every task instance is derived from, kept where no worker can read it.

A split's instances come from seeds that are an HMAC of the secret over (task, split, the task's own
split seed, instance index). The source, the docs and the workers never hold the secret, so a
candidate cannot re-create a split's hidden data however well it knows the generator. The secret
is created on first use in the user's config directory (mode 0600) and can be given instead with
`--split-secret` or SELFTAUGHT_SPLIT_SECRET, to share a benchmark's exact instances. It is never
logged: runs record its fingerprint.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from selftaught.errors import ConfigError

ENV_VAR = "SELFTAUGHT_SPLIT_SECRET"
FILE_NAME = "split-secret"
MAX_LENGTH = 4096
_FINGERPRINT_LABEL = b"selftaught split-secret fingerprint\x00"


@dataclass(frozen=True)
class SplitSecret:
    """A split secret and where it came from (`file`, `environment` or `flag`).

    Attributes:
      key: the secret's bytes; never printed (not in repr).
      source: where it was found.
      path: the file it was read from (source `file`).
    """

    key: bytes = field(repr=False)
    source: str
    path: str | None = None

    @classmethod
    def from_text(cls, text: str, source: str, path: str | None = None) -> SplitSecret:
        """A secret from its text form (surrounding whitespace ignored); ConfigError if empty or huge."""
        value = text.strip()
        where = path or ("--split-secret" if source == "flag" else ENV_VAR)
        if not value:
            raise ConfigError(f"the split secret in {where} is empty")
        if len(value) > MAX_LENGTH or "\n" in value:
            raise ConfigError(f"the split secret in {where} must be one line of at most {MAX_LENGTH} characters")
        return cls(value.encode("utf-8"), source, path)

    @property
    def fingerprint(self) -> str:
        """A short public name of the secret: equal fingerprints mean equal instances."""
        return hashlib.sha256(_FINGERPRINT_LABEL + self.key).hexdigest()[:16]

    def instance_seed(self, task: str, split: str, split_seed: int, index: int) -> int:
        """The seed of instance `index` of `split` of `task` (a 256-bit integer)."""
        message = json.dumps([task, split, split_seed, index]).encode("utf-8")
        return int.from_bytes(hmac.new(self.key, message, hashlib.sha256).digest(), "big")

    def record(self) -> dict[str, str | None]:
        """What a run records about the secret: its fingerprint and source, never the secret."""
        return {"fingerprint": self.fingerprint, "source": self.source, "path": self.path}


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """selftaught's directory in the user's config directory (XDG_CONFIG_HOME, else ~/.config)."""
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "selftaught"


def load_split_secret(override: str | None = None, *, environ: Mapping[str, str] = os.environ) -> SplitSecret:
    """The secret: `override` (the flag), else SELFTAUGHT_SPLIT_SECRET, else the file (created on first use)."""
    if override is not None:
        return SplitSecret.from_text(override, "flag")
    if environ.get(ENV_VAR):
        return SplitSecret.from_text(environ[ENV_VAR], "environment")
    return _from_file(config_dir(environ) / FILE_NAME)


def _from_file(path: Path) -> SplitSecret:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            _create(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the split secret {path}: {exc.strerror or exc}; "
                          f"set {ENV_VAR} or pass --split-secret instead") from None
    try:
        mode = path.stat().st_mode
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_LENGTH + 2)
    except UnicodeDecodeError:
        raise ConfigError(f"the split secret {path} is not text: it must be one line of text (selftaught writes 64 "
                          "hex characters); to use random bytes, write them in hex: (umask 077; python3 -c 'import "
                          f"secrets; print(secrets.token_hex(32))' > {path})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the split secret {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the split secret {path} is open to other users (mode {stat.S_IMODE(mode):o}); "
                          f"make it private: chmod 600 {path}")
    return SplitSecret.from_text(text, "file", str(path))


def _create(path: Path) -> None:
    """Writes a fresh secret to `path` atomically; a concurrent creator's secret wins if it was first."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile: keep theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
