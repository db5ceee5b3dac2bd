"""Keeping selftaught out of the isolating sandbox: which entries are its, and bubblewrap arguments that hide them.

The worker needs the interpreter and the third-party libraries a candidate may import, which live
in the same site-packages as selftaught (or next to its editable-install files). Each directory on
the interpreter's import path that the sandbox can see and that holds a selftaught entry is
rebuilt: the real directory is bound at a neutral place, with every selftaught entry there masked
(an empty read-only tmpfs over a directory, /dev/null over a file), and a read-only tmpfs replaces
the directory itself, holding a symbolic link to each entry that is not selftaught's. The names
are gone from the import path, so `import selftaught` fails (not even an empty namespace package
is found), and the contents are gone everywhere.
"""

from __future__ import annotations

import os
import re
import site
import sys

# The package, a single-module or egg install, its metadata, editable-install files (setuptools'
# .pth and finder, legacy egg-link) and their byte code.
_NAME = re.compile(
    r"(selftaught(\.py|\.pth|\.egg-link|\.egg-info|\.dist-info|\.egg)?"
    r"|selftaught-[^/]*\.(dist-info|egg-info|egg)"
    r"|__editable__\.selftaught-[^/]*\.pth"
    r"|__editable___selftaught_[^/]*_finder\.py"
    r"|__editable___selftaught_[^/]*_finder\.[^/]*\.pyc"
    r"|selftaught\.[^/]*\.pyc)",
    re.IGNORECASE,
)
BACKING_ROOT = "/.site"  # where the real directories are bound, entries masked


def is_selftaught(name: str) -> bool:
    """Whether a directory entry called `name` belongs to the selftaught package or its installation."""
    return _NAME.fullmatch(name) is not None


def import_dirs() -> list[str]:
    """The directories (resolved) on this interpreter's import path: site-packages, and what .pth files added."""
    found = [*sys.path, *site.getsitepackages()]
    return list(dict.fromkeys(os.path.realpath(p) for p in found if p and os.path.isdir(p)))


def package_dir() -> str:
    """Where the selftaught package this process runs is (resolved): two levels above this module's own file
    (selftaught/sandbox/_hide.py), found without importing the package's top level."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _holds_selftaught(directory: str) -> bool:
    return any(is_selftaught(name) for name in _listing(directory))


def _mask(path: str, real: str) -> list[str]:
    """Arguments that empty `path` in the sandbox (the host's `real`, not a symbolic link)."""
    if os.path.isdir(real):
        return ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    return ["--ro-bind", "/dev/null", path]


def _rebuild(real: str, view: str, backing: str) -> list[str]:
    """Symbolic links in `view` (a fresh tmpfs directory) to every entry of `backing` that is not selftaught's;
    a `__pycache__` holding selftaught's byte code is rebuilt the same way."""
    args: list[str] = []
    for name in _listing(real):
        if is_selftaught(name):
            continue
        inner = os.path.join(real, name)
        if name == "__pycache__" and os.path.isdir(inner) and _holds_selftaught(inner):
            args += ["--dir", f"{view}/{name}"]
            args += _rebuild(inner, f"{view}/{name}", f"{backing}/{name}")
        else:
            args += ["--symlink", f"{backing}/{name}", f"{view}/{name}"]
    return args


def _masks(real: str, backing: str) -> list[str]:
    args: list[str] = []
    for name in _listing(real):
        inner = os.path.join(real, name)
        if os.path.islink(inner):
            continue  # a link itself holds nothing; where it leads is hidden in its own right, if visible
        if is_selftaught(name):
            args += _mask(f"{backing}/{name}", inner)
        elif name == "__pycache__" and os.path.isdir(inner):
            args += _masks(inner, f"{backing}/{name}")
    return args


def hiding_args(visible: list[str], dirs: list[str] | None = None, package: str | None = None,
                backing_root: str = BACKING_ROOT) -> list[str]:
    """bubblewrap arguments, to follow the binds that made `visible` (resolved paths) visible, that hide
    every selftaught entry of the import directories `dirs` (default: this interpreter's) and the
    package directory `package` (default: this one's) wherever the sandbox would see them. The real
    directories are bound under `backing_root`, a path of the sandbox's own root."""
    dirs = import_dirs() if dirs is None else dirs
    package = package_dir() if package is None else package
    args: list[str] = []
    rebuilt: list[str] = []
    for directory in dirs:
        if not _under(directory, visible) or _under(directory, rebuilt) or not _holds_selftaught(directory):
            continue
        if not rebuilt:
            args += ["--perms", "0711", "--dir", backing_root]  # enterable (the links lead there), not listable
        backing = f"{backing_root}/{len(rebuilt)}"
        rebuilt.append(directory)
        args += ["--ro-bind", directory, backing, *_masks(directory, backing)]
        args += ["--perms", "0755", "--tmpfs", directory, *_rebuild(directory, directory, backing)]
        args += ["--remount-ro", directory]
    if not _under(package, visible):
        return args
    where = package
    for i, directory in enumerate(rebuilt):
        if _under(package, [directory]):
            if os.path.dirname(package) == directory:
                return args  # masked in the backing directory already, absent from the view
            where = f"{backing_root}/{i}/{os.path.relpath(package, directory)}"
    return args + _mask(where, package)
