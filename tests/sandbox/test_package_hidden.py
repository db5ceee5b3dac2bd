"""Nothing of selftaught in the isolating sandbox, whatever the install: a candidate cannot import, find or read it.

The main test installs a wheel of this checkout into a fresh virtualenv (whose base interpreter has another,
editable selftaught in its own site-packages) and runs a probe through that virtualenv's `selftaught sandbox run`:
every route to the package fails inside, and each one works outside (the probe run directly), and numpy imports.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox_support import SRC_ROOT
from selftaught.errors import UserError
from selftaught.sandbox import select_sandbox
from selftaught.sandbox._hide import hiding_args, is_selftaught

PROJECT = SRC_ROOT.parent

# Every route a candidate has to the package; each one reports what it got (None: nothing).
PROBE = r'''
import importlib.metadata, importlib.util, json, os, site, sys
TARGETS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.loads(os.environ.get("PROBE_TARGETS", "{}"))
got = {}
try:
    import selftaught
    got["import"] = repr(selftaught)
except ImportError:
    got["import"] = None
try:
    from selftaught.tasks import get_task
    got["import_tasks"] = repr(get_task)
except ImportError:
    got["import_tasks"] = None
got["find_spec"] = None if importlib.util.find_spec("selftaught") is None else "found"
try:
    got["metadata"] = importlib.metadata.distribution("selftaught").read_text("METADATA")
except importlib.metadata.PackageNotFoundError:
    got["metadata"] = None
found = []
for top in dict.fromkeys([*sys.path, *site.getsitepackages()]):
    for root, dirs, files in os.walk(top, followlinks=True):
        found += [os.path.join(root, n) for n in dirs + files if "selftaught" in n.lower()]
        if root != top:
            dirs[:] = []  # the top of each directory on the path, and one level below
got["walk"] = found or None
for name, path in TARGETS.items():
    try:
        with open(path, "rb") as f:
            got[name] = f.read().decode(errors="replace") or None
    except OSError:
        got[name] = None
import numpy
got["numpy"] = int(numpy.arange(10).sum())
print("PROBE " + json.dumps(got))
'''


def _probe_result(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("PROBE ")]
    assert lines, output
    data: dict[str, Any] = json.loads(lines[-1][len("PROBE "):])
    return data


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pip_wheel(project: Path, dist: Path) -> Path | None:
    """A wheel built by pip (its build backend comes from the package index: None when that is unreachable)."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(project)],
                          capture_output=True, text=True, timeout=300)
    wheels = sorted(dist.glob("selftaught-*.whl"))
    return wheels[0] if done.returncode == 0 and wheels else None


def _plain_wheel(project: Path, dist: Path) -> Path:
    """The same wheel, zipped by hand (the package, its data, metadata and the console script), for offline machines."""
    version = tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]
    info = f"selftaught-{version}.dist-info"
    wheel = dist / f"selftaught-{version}-py3-none-any.whl"
    files = {str(p.relative_to(project / "src")): p.read_bytes()
             for p in sorted((project / "src" / "selftaught").rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: selftaught\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nselftaught = selftaught.cli:run\n"
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]).encode()
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv (with the base interpreter's packages: numpy) holding a regular wheel install of this
    checkout; the base interpreter's own selftaught (an editable install, as a rule) stays where it is."""
    try:
        select_sandbox.cache_clear()
        select_sandbox("strict")
    except UserError as exc:
        pytest.skip(f"full isolation (bubblewrap) is unavailable here: {exc}")
    base = tmp_path_factory.mktemp("wheel")
    project = base / "project"  # a copy: building writes egg-info and build/ next to the sources
    project.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", project)
    shutil.copy(PROJECT / "README.md", project)
    shutil.copytree(SRC_ROOT, project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = base / "dist"
    dist.mkdir()
    wheel = _pip_wheel(project, dist) or _plain_wheel(project, dist)
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
                   check=True, timeout=120)
    # the base interpreter's pip, run by the virtualenv's interpreter, installs into the virtualenv
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, timeout=300, env=_clean_env())
    yield env_dir


def _targets(env_dir: Path) -> dict[str, str]:
    """Files of selftaught's installation to read directly, by their host paths."""
    site_dir = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                               "['purelib'])"], capture_output=True, text=True, check=True, env=_clean_env())
    purelib = Path(site_dir.stdout.strip())
    targets = {"dist_info": str(next(purelib.glob("selftaught-*.dist-info")) / "METADATA"),
               "source": str(purelib / "selftaught" / "tasks" / "__init__.py")}
    editable = glob.glob(os.path.join(sys.base_prefix, "lib", "python3*", "site-packages", "__editable__.selftaught*"))
    if editable:
        targets["editable_pth"] = editable[0]
    return targets


@pytest.fixture(scope="module")
def outside(venv: Path) -> dict[str, Any]:
    """The probe run directly by the virtualenv's interpreter: every route leads to selftaught there."""
    targets = _targets(venv)
    done = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE, json.dumps(targets)], capture_output=True,
                          text=True, timeout=120, env=_clean_env())
    assert done.returncode == 0, done.stderr
    return _probe_result(done.stdout)


@pytest.fixture(scope="module")
def inside(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The probe run by the virtualenv's `selftaught sandbox run --sandbox strict`."""
    program = tmp_path_factory.mktemp("probe") / "probe.py"
    program.write_text(f"import sys\nsys.argv[1:] = [{json.dumps(json.dumps(_targets(venv)))}]\n" + PROBE)
    done = subprocess.run([str(venv / "bin" / "selftaught"), "sandbox", "run", str(program), "--json", "--sandbox",
                           "strict"], capture_output=True, text=True, timeout=120, env=_clean_env())
    assert done.returncode == 0, done.stderr + done.stdout
    data = json.loads(done.stdout)
    assert data["sandbox"]["name"] == "bwrap", data
    return {"sandbox": data["sandbox"], **_probe_result(data["output"])}


ROUTES = ["import", "import_tasks", "find_spec", "metadata", "walk", "dist_info", "source"]


def test_the_virtualenv_runs_its_own_wheel_install(venv: Path) -> None:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "import selftaught; print(selftaught.__file__)"],
                          capture_output=True, text=True, check=True, env=_clean_env())
    assert done.stdout.strip().startswith(str(venv / "lib")), done.stdout


@pytest.mark.parametrize("route", ROUTES)
def test_outside_the_sandbox_every_route_finds_selftaught(outside: dict[str, Any], route: str) -> None:
    assert outside[route], (route, outside)


@pytest.mark.parametrize("route", [*ROUTES, "editable_pth"])
def test_inside_the_sandbox_no_route_finds_selftaught(inside: dict[str, Any], route: str) -> None:
    if route == "editable_pth" and route not in inside:
        pytest.skip("the base interpreter has no editable selftaught to hide")
    assert inside[route] is None, (route, inside)


def test_inside_the_sandbox_numpy_still_imports(inside: dict[str, Any], outside: dict[str, Any]) -> None:
    assert inside["numpy"] == outside["numpy"] == 45


# --- names, and other layouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "selftaught", "selftaught.py", "selftaught-0.1.0.dist-info", "selftaught-0.1.0.egg-info", "selftaught.egg-info",
    "selftaught.egg-link", "selftaught.pth", "__editable__.selftaught-0.1.0.pth",
    "__editable___selftaught_0_1_0_finder.py", "__editable___selftaught_0_1_0_finder.cpython-311.pyc",
    "selftaught-0.1.0-py3.11.egg", "SelfTaught-0.1.0.dist-info", "selftaught.cpython-311.pyc",
])
def test_the_package_and_its_installation_files_are_selftaughts(name: str) -> None:
    assert is_selftaught(name)


@pytest.mark.parametrize("name", [
    "numpy", "selftaught_plugin", "easy-install.pth", "distutils-precedence.pth", "not_selftaught",
    "__editable__.other-1.0.pth", "selftaughtx",
])
def test_other_entries_are_not(name: str) -> None:
    assert not is_selftaught(name)


def test_a_system_style_layout_is_hidden_with_the_other_packages_kept(tmp_path: Path) -> None:
    """A dist-packages directory holding the package, its metadata, editable files and byte code, next to others."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    site_dir = tmp_path / "dist-packages"
    for directory in ("selftaught/tasks", "selftaught-0.1.0.dist-info", "other", "__pycache__"):
        (site_dir / directory).mkdir(parents=True)
    (site_dir / "selftaught" / "__init__.py").write_text("SECRET = 'package'\n")
    (site_dir / "selftaught-0.1.0.dist-info" / "METADATA").write_text("Name: selftaught\n")
    (site_dir / "selftaught.egg-link").write_text("/somewhere\n")
    (site_dir / "__editable___selftaught_0_1_0_finder.py").write_text("MAPPING = {}\n")
    (site_dir / "__pycache__" / "__editable___selftaught_0_1_0_finder.cpython-311.pyc").write_bytes(b"pyc")
    (site_dir / "__pycache__" / "kept.cpython-311.pyc").write_bytes(b"pyc")
    (site_dir / "other" / "__init__.py").write_text("VALUE = 7\n")
    (site_dir / "kept.py").write_text("VALUE = 8\n")
    args = hiding_args([str(tmp_path)], dirs=[str(site_dir)], package=str(site_dir / "selftaught"),
                       backing_root="/tmp/backing")  # the sandbox's own /tmp: this test's root is read-only
    code = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(site_dir)!r})\n"
        "top = sys.path[0]\n"
        "got = {'listing': sorted(os.listdir(top)), 'cache': sorted(os.listdir(top + '/__pycache__'))}\n"
        "try:\n    import selftaught\n    got['import'] = True\nexcept ImportError:\n    got['import'] = False\n"
        "import other, kept\n"
        "got['others'] = [other.VALUE, kept.VALUE]\n"
        "got['backing'] = []\n"
        "for name in ('kept.py', 'selftaught/__init__.py', 'selftaught-0.1.0.dist-info/METADATA',\n"
        "             'selftaught.egg-link', '__pycache__/__editable___selftaught_0_1_0_finder.cpython-311.pyc'):\n"
        "    try:\n        got['backing'].append(open('/tmp/backing/0/' + name, 'rb').read().decode())\n"
        "    except OSError:\n        got['backing'].append(None)\n"
        "print(json.dumps(got))\n"
    )
    # A private /tmp, then back on top of it what lives there: this test's directory and an interpreter in a
    # virtualenv under /tmp (the test must pass from a virtualenv anywhere).
    under_tmp = sorted({p for p in (sys.prefix, sys.base_prefix, str(tmp_path)) if p.startswith("/tmp/")})
    base = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", *[arg for p in under_tmp for arg in ("--ro-bind", p, p)]]
    # -S: no site-packages, so the only selftaught on the path would be this directory's
    done = subprocess.run([*base, *args, "--", sys.executable, "-I", "-S", "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    backing = got.pop("backing")
    assert got == {
        "listing": ["__pycache__", "kept.py", "other"],
        "cache": ["kept.cpython-311.pyc"],
        "import": False,
        "others": [7, 8],
    }, got
    # where the real directory is bound, other files read as they are and selftaught's read as nothing (an empty
    # directory; /dev/null, which a user namespace refuses to open)
    assert backing[0] == "VALUE = 8\n"
    assert backing[1:3] == [None, None] and set(backing[3:]) <= {None, ""}, backing


def test_the_package_is_located_without_importing_its_top_level() -> None:
    # _hide.py loaded on its own, with `selftaught` made unimportable: it still finds the package it belongs to.
    hide = SRC_ROOT / "selftaught" / "sandbox" / "_hide.py"
    code = (
        "import importlib.util, sys\n"
        "sys.modules['selftaught'] = None  # any `import selftaught` now raises ImportError\n"
        f"spec = importlib.util.spec_from_file_location('hide_alone', {str(hide)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.package_dir())\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == os.path.realpath(SRC_ROOT / "selftaught")
