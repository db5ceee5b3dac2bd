"""Reading a user's input file with a size cap; one-line errors for missing, unreadable, oversized, non-UTF-8 files."""

from __future__ import annotations

from selftaught.errors import UserError


def read_capped(path: str, what: str, limit: int) -> str:
    """The UTF-8 text of `path`, at most `limit` bytes (a device such as /dev/zero is cut off, not read forever)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{what} file {path} is a directory") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UserError(f"{what} file {path} is over {_size(limit)}; selftaught reads at most that much")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit >> 10} KiB"
