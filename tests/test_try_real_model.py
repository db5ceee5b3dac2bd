"""scripts/try-real-model: a portable build by default, a real completion before selftaught starts, and a server
that dies reported with its signal and log (with a stand-in server: the real one takes minutes to build)."""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "try-real-model"

# A stand-in for llama-cpp-python's server: lists the model, and answers a chat completion, or (while the file
# named by its second argument exists) writes a last log line and dies of SIGSEGV, as a build for another CPU did.
FAKE_SERVER = textwrap.dedent('''
    import json, os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, crash_flag = int(sys.argv[1]), sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({"data": [{"id": "smollm2-135m-instruct"}]})

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            if os.path.exists(crash_flag):
                print("ggml_compute_forward: illegal tile configuration", flush=True)
                os.kill(os.getpid(), signal.SIGSEGV)
            self._send({"choices": [{"message": {"role": "assistant", "content": "OK"}}]})

        def log_message(self, *args):
            pass

    print("server listening", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
''')


@pytest.fixture(scope="module")
def script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("try_real_model", str(SCRIPT))
    spec = importlib.util.spec_from_loader("try_real_model", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Path]:
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER)
    return {"server": server, "crash": tmp_path / "crash-on-completion"}


def _start(script: ModuleType, fake: dict[str, Path], log: Path) -> Any:
    port = script.free_port()
    return script.Server([sys.executable, str(fake["server"]), str(port), str(fake["crash"])], port, log)


def test_the_build_is_portable_unless_native_is_asked_for(script: ModuleType) -> None:
    assert "-DGGML_NATIVE=OFF" in script.build_flags(native=False).split()
    assert "-DGGML_NATIVE=OFF" not in script.build_flags(native=True).split()
    # the user's own CMAKE_ARGS come first, so the script's portable flag is the one cmake keeps
    flags = script.build_flags(native=False, user_flags="-DGGML_NATIVE=ON -DGGML_BLAS=ON").split()
    assert flags.index("-DGGML_NATIVE=ON") < flags.index("-DGGML_NATIVE=OFF")
    assert "-DGGML_BLAS=ON" in flags


def test_a_healthy_server_answers_the_test_completion(script: ModuleType, fake: dict[str, Path],
                                                      tmp_path: Path) -> None:
    server = _start(script, fake, tmp_path / "server.log")
    try:
        server.wait_ready(30)
        assert server.probe(30) >= 0
        assert server.died() is None
    finally:
        server.stop()


def test_a_server_that_dies_on_its_first_completion_is_reported_with_its_signal_and_log(
        script: ModuleType, fake: dict[str, Path], tmp_path: Path) -> None:
    fake["crash"].touch()
    server = _start(script, fake, tmp_path / "server.log")
    try:
        server.wait_ready(30)  # listing the models works: only a completion shows the crash
        with pytest.raises(script.ServerDied) as died:
            server.probe(30)
    finally:
        server.stop()
    message = str(died.value)
    assert "SIGSEGV" in message
    assert "illegal tile configuration" in message  # the log's last lines
    assert str(tmp_path / "server.log") in message


def test_a_native_build_that_crashes_is_rebuilt_portably_once(script: ModuleType, fake: dict[str, Path],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake["crash"].touch()
    rebuilds: list[bool] = []

    def rebuild(cache: Path, args: argparse.Namespace, *, force: bool = False) -> dict[str, Any]:
        rebuilds.append(args.native)
        fake["crash"].unlink()  # the portable build does not crash
        return {"built": True, "version": "x", "flags": script.build_flags(args.native)}

    monkeypatch.setattr(script, "ensure_server", rebuild)
    monkeypatch.setattr(script, "server_command",
                        lambda cache, model, args, port: [sys.executable, str(fake["server"]), str(port),
                                                          str(fake["crash"])])
    args = argparse.Namespace(port=0, server_timeout=30, request_timeout=30, native=True)
    setup: dict[str, Any] = {"flags": script.build_flags(native=True)}
    server = script.start_server(tmp_path, "model.gguf", args, tmp_path / "server.log", setup)
    try:
        assert server.died() is None
    finally:
        server.stop()
    assert rebuilds == [False]
    assert "-DGGML_NATIVE=OFF" in setup["flags"]


def test_a_portable_build_that_crashes_ends_the_script_without_a_rebuild(
        script: ModuleType, fake: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake["crash"].touch()
    monkeypatch.setattr(script, "ensure_server", lambda *a, **k: pytest.fail("rebuilt a portable build"))
    monkeypatch.setattr(script, "server_command",
                        lambda cache, model, args, port: [sys.executable, str(fake["server"]), str(port),
                                                          str(fake["crash"])])
    args = argparse.Namespace(port=0, server_timeout=30, request_timeout=30, native=False)
    with pytest.raises(SystemExit):
        script.start_server(tmp_path, "model.gguf", args, tmp_path / "server.log",
                            {"flags": script.build_flags(native=False)})


def test_a_server_that_dies_during_a_command_is_named_in_the_summary(script: ModuleType, fake: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    fake["crash"].touch()
    server = _start(script, fake, tmp_path / "server.log")
    try:
        server.wait_ready(30)
        with pytest.raises(script.ServerDied):
            server.probe(30)
        lines = script.server_check(server)
    finally:
        server.stop()
    assert len(lines) == 1 and "SIGSEGV" in lines[0]
