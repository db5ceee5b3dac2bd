"""The built wheel holds every file the package has: a regular (non-editable) install lacks nothing it reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "selftaught"


def _package_files() -> set[str]:
    """Every file of the source package, as a wheel names it (byte code left out)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The file names in a wheel built (offline, from a copy of the project) the way `pip install .` builds it."""
    work = tmp_path_factory.mktemp("wheel")
    project = work / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copy(ROOT / "README.md", project)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = work / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out), str(project)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("selftaught-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_every_file_of_the_package(wheel_files: set[str]) -> None:
    missing = sorted(_package_files() - wheel_files)
    assert not missing, f"left out of the wheel (add them to [tool.setuptools.package-data]): {missing}"


def test_the_wheel_holds_the_price_table_and_the_prompts_the_commands_read(wheel_files: set[str]) -> None:
    for name in ("selftaught/lm/data/prices.toml", "selftaught/improver/data/seed_improver.py",
                 "selftaught/improver/data/meta_utility_description.txt",
                 "selftaught/improver/data/strategies/map_elites.py",
                 "selftaught/sandbox/_guest/zygote.py", "selftaught/tasks/data/parity_noise/seed.txt"):
        assert name in wheel_files


def test_the_wheel_holds_nothing_from_outside_the_package(wheel_files: set[str]) -> None:
    outside = sorted(n for n in wheel_files
                     if not n.startswith(("selftaught/", "selftaught-")) or "__pycache__" in n)
    assert outside == []
