"""`selftaught sandbox check`: which isolation layers are active here, each verified by trying the forbidden thing."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from selftaught.sandbox._run_file import FileRun, run_file
from selftaught.sandbox._select import SandboxChoice

CANARY = "selftaught-check-canary-7f3a"


@dataclass(frozen=True)
class LayerCheck:
    """One isolation layer: whether it held when the forbidden thing was tried, and what was seen."""

    layer: str
    verified: bool
    detail: str

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _report(run: FileRun) -> dict[str, Any]:
    """The JSON object a probe printed last (or an empty dict)."""
    for line in reversed(run.output.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def _probe(choice: SandboxChoice, source: str, timeout: float = 20.0) -> dict[str, Any]:
    return _report(run_file(choice.sandbox, source, timeout=timeout))


def check_processes(choice: SandboxChoice) -> LayerCheck:
    data = _probe(choice, (
        "import json, os\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "print(json.dumps({'pids': len(pids), 'parent': os.getppid()}))\n"
    ))
    visible = int(data.get("pids", 10**6))
    own = str(os.getpid())
    ok = visible < 10
    return LayerCheck("pid namespace", ok, f"{visible} processes visible (the orchestrator is pid {own} outside)")


def check_user(choice: SandboxChoice) -> LayerCheck:
    data = _probe(choice, (
        "import json, os\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
        "nnp = [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0]\n"
        "print(json.dumps({'uid': os.getuid(), 'caps': caps, 'nnp': nnp}))\n"
    ))
    ok = data.get("uid") not in (0, None) and data.get("caps") == "0000000000000000"
    detail = f"uid {data.get('uid')}, effective capabilities {data.get('caps')}, no_new_privs {data.get('nnp')}"
    return LayerCheck("user and capabilities", ok, detail)


def check_network(choice: SandboxChoice) -> LayerCheck:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        data = _probe(choice, (
            "import json, socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
            "    print(json.dumps({'connected': True}))\n"
            "except OSError as exc:\n"
            "    print(json.dumps({'connected': False, 'error': str(exc)}))\n"
        ))
        try:
            conn, _ = listener.accept()
            conn.close()
            seen = True
        except OSError:
            seen = False
    ok = data.get("connected") is False and not seen
    return LayerCheck("network", ok, f"connecting to the host's loopback port {port}: "
                      + ("refused" if ok else "reached the host"))


def check_filesystem(choice: SandboxChoice) -> LayerCheck:
    with tempfile.TemporaryDirectory(prefix="selftaught-check-") as host_dir:
        os.chmod(host_dir, 0o777)
        secret = os.path.join(host_dir, "secret.txt")
        with open(secret, "w") as f:
            f.write(CANARY)
        os.chmod(secret, 0o644)
        escape = os.path.join(host_dir, "escaped.txt")
        data = _probe(choice, (
            "import json\n"
            "out = {}\n"
            f"try:\n    out['read'] = open({secret!r}).read()\n"
            "except OSError as e:\n    out['read'] = None\n"
            f"try:\n    open({escape!r}, 'w').write('x')\n    out['wrote'] = True\n"
            "except OSError:\n    out['wrote'] = False\n"
            "try:\n    open('/usr/selftaught-escape', 'w')\n    out['usr'] = True\n"
            "except OSError:\n    out['usr'] = False\n"
            "print(json.dumps(out))\n"
        ))
        escaped = os.path.exists(escape)
    if data.get("usr"):  # a sandbox that let the probe write /usr: do not leave the file behind
        with contextlib.suppress(OSError):
            os.remove("/usr/selftaught-escape")
    ok = data.get("read") is None and not escaped and data.get("usr") is False
    return LayerCheck("filesystem", ok, "host files invisible, host directories unwritable, /usr read-only"
                      if ok else f"saw host file: {data.get('read') == CANARY}, wrote to host: {escaped}")


def check_environment(choice: SandboxChoice) -> LayerCheck:
    os.environ["SELFTAUGHT_CHECK_SECRET"] = CANARY
    try:
        data = _probe(choice, (
            "import json, os\n"
            "seen = [v for v in os.environ.values()]\n"
            "try:\n    seen.append(open('/proc/1/environ', 'rb').read().decode(errors='replace'))\n"
            "except OSError:\n    pass\n"
            f"print(json.dumps({{'leak': any({CANARY!r} in v for v in seen)}}))\n"
        ))
    finally:
        del os.environ["SELFTAUGHT_CHECK_SECRET"]
    ok = data.get("leak") is False
    return LayerCheck("environment", ok, "a canary variable of the orchestrator stayed out of the sandbox"
                      if ok else "the orchestrator's environment leaked")


def check_pids(choice: SandboxChoice) -> LayerCheck:
    limit = choice.sandbox.limits.processes
    data = _probe(choice, (
        "import json, os, time\n"
        "children = 0\n"
        "try:\n"
        "    for _ in range(2000):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError:\n"
        "    pass\n"
        "print(json.dumps({'children': children}))\n"
    ), timeout=30)
    children = int(data.get("children", 10**6))
    # As an ordinary user, RLIMIT_NPROC also counts the user's other processes: allow some slack.
    ok = children <= 2 * limit
    return LayerCheck("processes", ok, f"{children} of 2000 processes started before refusal (limit {limit})")


def check_memory(choice: SandboxChoice) -> LayerCheck:
    mb = choice.sandbox.limits.memory_mb
    data = _probe(choice, (
        "import json\n"
        f"try:\n    x = bytearray({2 * mb} * 1024 * 1024)\n    print(json.dumps({{'allocated': True}}))\n"
        "except MemoryError:\n    print(json.dumps({'allocated': False}))\n"
    ))
    ok = data.get("allocated") is False
    return LayerCheck("memory", ok, f"allocating {2 * mb} MB was " + ("refused" if ok else "allowed"))


def check_disk(choice: SandboxChoice) -> LayerCheck:
    mb = choice.sandbox.limits.tmp_mb
    data = _probe(choice, (
        "import json, os, tempfile\n"
        "written = 0\n"
        "try:\n"
        "    with open(os.path.join(tempfile.gettempdir(), 'fill'), 'wb') as f:\n"
        f"        for _ in range({4 * mb}):\n"
        "            f.write(b'x' * 1048576)\n"
        "            written += 1\n"
        "except OSError:\n    pass\n"
        "print(json.dumps({'written_mb': written}))\n"
    ), timeout=60)
    written = int(data.get("written_mb", 10**6))
    ok = written < 4 * mb
    return LayerCheck("disk", ok, f"{written} MB written before refusal")


def check_seccomp(choice: SandboxChoice) -> LayerCheck:
    data = _probe(choice, (
        "import ctypes, json, os, resource, time\n"
        "mode = [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')][0]\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "rc = libc.ptrace(16, 1, 0, 0)\n"
        "out = {'mode': mode, 'ptrace': rc, 'errno': ctypes.get_errno()}\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    time.sleep(5)\n"
        "    os._exit(0)\n"
        "try:\n"
        "    resource.prlimit(child, resource.RLIMIT_NOFILE, (8, 8))\n"
        "    out['prlimit'] = 0\n"
        "except OSError as exc:\n"
        "    out['prlimit'] = exc.errno\n"
        "os.kill(child, 9)\n"
        "os.waitpid(child, 0)\n"
        "print(json.dumps(out))\n"
    ))
    ok = data.get("mode") == "2" and data.get("ptrace") == -1 and data.get("errno") == 1 and data.get("prlimit") == 1
    return LayerCheck("seccomp", ok, f"filter mode {data.get('mode')}, ptrace(ATTACH, 1) errno {data.get('errno')}, "
                      f"prlimit on its own child errno {data.get('prlimit')}")


def check_package(choice: SandboxChoice) -> LayerCheck:
    data = _probe(choice, (
        "import importlib.util, json, os, site, sys\n"
        "try:\n    import selftaught\n    imported = True\n"
        "except ImportError:\n    imported = False\n"
        "spec = importlib.util.find_spec('selftaught') is not None\n"
        "found = []\n"
        "for d in dict.fromkeys([*sys.path, *site.getsitepackages()]):\n"
        "    try:\n        names = os.listdir(d)\n"
        "    except OSError:\n        continue\n"
        "    found += [os.path.join(d, n) for n in names if 'selftaught' in n.lower()]\n"
        "print(json.dumps({'imported': imported, 'spec': spec, 'found': found[:5]}))\n"
    ))
    ok = data.get("imported") is False and data.get("spec") is False and data.get("found") == []
    if ok:
        detail = "`import selftaught` fails and nothing of it is on the import path"
    else:
        verb = "worked" if data.get("imported") else "failed"
        detail = f"import {verb}, found on the import path: {data.get('found')}"
    return LayerCheck("package hidden", ok, detail)


def check_uid_drop(choice: SandboxChoice) -> LayerCheck:
    """The process sandbox as root: the program runs as an unprivileged uid and cannot read its parent's /proc."""
    data = _probe(choice, (
        "import json, os\n"
        "status = {l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if ':' in l and l.split()[1:]}\n"
        "try:\n    open(f'/proc/{os.getppid()}/environ', 'rb').read()\n    parent = True\n"
        "except OSError:\n    parent = False\n"
        "print(json.dumps({'uid': os.getuid(), 'caps': status.get('CapEff'), 'bounding': status.get('CapBnd'),"
        " 'nnp': status.get('NoNewPrivs'), 'parent': parent}))\n"
    ))
    ok = (data.get("uid") not in (0, None) and data.get("caps") == data.get("bounding") == "0000000000000000"
          and data.get("nnp") == "1" and data.get("parent") is False)
    return LayerCheck("unprivileged uid", ok, f"uid {data.get('uid')}, capabilities {data.get('caps')} "
                      f"(bounding {data.get('bounding')}), no_new_privs {data.get('nnp')}, parent's environment "
                      + ("readable" if data.get("parent") else "unreadable"))


CHECKS: tuple[Callable[[SandboxChoice], LayerCheck], ...] = (
    check_user, check_processes, check_network, check_filesystem, check_environment, check_package,
    check_pids, check_memory, check_disk, check_seccomp,
)


def check_sandbox(choice: SandboxChoice) -> list[LayerCheck]:
    """Runs every layer's probe in the chosen sandbox (and, for the process sandbox as root, its uid drop)."""
    checks = list(CHECKS)
    if choice.sandbox.name == "process" and os.getuid() == 0:
        checks.insert(1, check_uid_drop)
    return [check(choice) for check in checks]
