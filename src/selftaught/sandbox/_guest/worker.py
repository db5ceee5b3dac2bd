"""The worker: runs one untrusted program (a solution or an improver) and speaks the wire protocol.

Started by the orchestrator as `python -I worker.py` in a fresh process group with a scrubbed
environment. Protocol messages travel on the original stdin/stdout, which are moved to private
descriptors before any untrusted code runs; the program's own prints go to stderr.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
import types
from typing import Any, BinaryIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _audit  # type: ignore[import-not-found]
import _wire  # type: ignore[import-not-found]
import helpers  # type: ignore[import-not-found]


class Interrupted(BaseException):
    """Raised inside the candidate when the orchestrator's time limit has passed."""


class Link:
    """The protocol channel to the orchestrator (thread-safe request/response)."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO) -> None:
        self.reader = reader
        self.writer = writer
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any], limit: int = _wire.MAX_MESSAGE) -> None:
        """Sends one message; one the orchestrator would refuse as too long (over `limit` bytes, or over
        MAX_MESSAGE) raises WireError instead."""
        if message.get("op") in ("loaded", "result", "done", "ran"):
            message = {**message, "audit": _record}
        line = _wire.encode(message)
        limit = min(limit, _wire.MAX_MESSAGE)
        if len(line) > limit + 1:  # the newline is not counted
            raise _wire.WireError(f"a message of {len(line) - 1} bytes is over the {limit}-byte limit")
        self.writer.write(line)
        self.writer.flush()

    def receive(self) -> dict[str, Any]:
        """The orchestrator's next message; its attachment, if any, as bytes under ATTACHED (see `_wire.encode`)."""
        line = self.reader.readline()
        if not line:
            os._exit(0)  # the orchestrator is gone
        message: dict[str, Any] = _wire.decode(line, attached=True)
        size = message.get(_wire.ATTACHED)
        if size is not None:
            if type(size) is not int or size < 0:
                raise _wire.WireError("a malformed attachment length")
            data = self.reader.read(size)
            if len(data) != size:
                os._exit(0)  # the orchestrator is gone
            message[_wire.ATTACHED] = data
        return message

    def call(self, service: str, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.send({"op": "call", "service": service, "args": args})
            return self.receive()


_interruptible = False
_record: dict[str, Any] = {"counts": {}, "samples": {}}


def _on_interrupt(signum: int, frame: Any) -> None:
    if _interruptible:
        raise Interrupted()


def _apply_limits(limits: dict[str, Any], inherited: dict[str, Any]) -> None:
    """Sets every resource limit explicitly: each of `inherited` (the host's own, which a fresh worker inherits),
    then those of `limits` on top. A forked worker so starts from a fresh worker's limits whatever its zygote's
    are; one whose hard limit is below what is asked fails here (ValueError), before any program runs."""
    import resource

    for name, (soft, hard) in inherited.items():
        which = getattr(resource, str(name), None)
        if str(name).startswith("RLIMIT_") and isinstance(which, int):
            _set(name, which, int(soft), int(hard))
    mb = 1024 * 1024
    pairs = [
        ("memory_mb", "RLIMIT_AS", mb),
        ("file_size_mb", "RLIMIT_FSIZE", mb),
        ("cpu_seconds", "RLIMIT_CPU", 1),
        ("open_files", "RLIMIT_NOFILE", 1),
        ("processes", "RLIMIT_NPROC", 1),
    ]
    for key, name, unit in pairs:
        value = limits.get(key)
        if value:
            n = int(value) * unit
            # The CPU limit's hard limit is a second later: at the soft one the kernel sends SIGXCPU (which says
            # which limit it was); at a hard limit equal to it, it would send SIGKILL instead.
            _set(f"{name} ({key})", getattr(resource, name), n, n + 1 if name == "RLIMIT_CPU" else n)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _set(name: str, which: int, soft: int, hard: int) -> None:
    import resource

    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{name} cannot be set to {(soft, hard)} (it is {resource.getrlimit(which)}): {exc}") from None


def _seed(seed: int) -> None:
    import random

    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % (2**32))
    except ImportError:
        pass


def _load(program: Any, entrypoint: str) -> tuple[Any, dict[str, Any] | None]:
    """Defines the program in a fresh module; returns (entrypoint, None) or (None, failure)."""
    global _interruptible
    if not isinstance(program, str) or not program.strip():
        return None, {"kind": "no_code", "error": "no program"}
    try:
        with _audit.worker_only():
            code = compile(program, "<candidate>", "exec")
    except (SyntaxError, ValueError) as exc:
        return None, {"kind": "syntax", "error": f"{type(exc).__name__}: {exc}"}
    module = types.ModuleType("candidate")
    module.__file__ = "<candidate>"
    sys.modules["candidate"] = module
    try:
        _interruptible = True
        exec(code, module.__dict__)
        _interruptible = False
    except Interrupted:
        _interruptible = False
        return None, {"kind": "timeout", "error": "defining the program took too long"}
    except BaseException as exc:
        _interruptible = False
        return None, {"kind": "exception", "error": _describe(exc)}
    fn = module.__dict__.get(entrypoint)
    if not callable(fn):
        return None, {"kind": "missing_entrypoint", "error": f"the program does not define {entrypoint}()"}
    return fn, None


def _harness(harness: Any) -> Any:
    """The task's harness, `drive(entrypoint, *args)`, defined from the task's source in a module of its own (None:
    each call runs the entrypoint itself; the host validates whatever a call returns). Defined before any of the
    program's code runs, so the program cannot replace what defining it calls (`compile`, `exec`) while the audit
    record is quiet."""
    if not isinstance(harness, str) or not harness:
        return None
    module = types.ModuleType("harness")
    with _audit.worker_only():
        exec(compile(harness, "<harness>", "exec"), module.__dict__)
    return module.__dict__["drive"]


def _harnessed(fn: Any, drive: Any) -> Any:
    """What each call runs: the entrypoint, or the harness driving it."""
    return fn if drive is None else (lambda *args: drive(fn, *args))


def _describe(exc: BaseException) -> str:
    _audit.refused(_record, exc)
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(tb[-3:]) if len(tb) > 3 else "".join(tb)
    plain: str = _wire.plain_text(text[-2000:])
    return plain


def _run_guarded(fn: Any, *args: Any) -> tuple[Any, dict[str, Any] | None]:
    global _interruptible
    try:
        _interruptible = True
        value = fn(*args)
        _interruptible = False
        return value, None
    except Interrupted:
        _interruptible = False
        return None, {"kind": "timeout", "error": "time limit"}
    except BaseException as exc:
        _interruptible = False
        if isinstance(exc, MemoryError):
            return None, {"kind": "memory", "error": "MemoryError"}
        return None, {"kind": "exception", "error": _describe(exc)}


def _decoded_call(fn: Any, data: Any, attachment: bytes) -> Any:
    """The entrypoint called on its inputs, decoded here: decoding is the program's time (the host charges the call
    from before it sent them), so it can be interrupted as the program can, and what goes wrong there is its."""
    return fn(*_wire.from_wire(data, attachment=attachment))


def serve_script(link: Link, first: dict[str, Any]) -> None:
    """Runs a whole file as __main__ (for `selftaught sandbox run`); reports its exit status."""
    global _interruptible
    program = first.get("program")
    code_or_failure: Any
    try:
        with _audit.worker_only():
            code_or_failure = compile(program if isinstance(program, str) else "", str(first.get("name", "<file>")),
                                      "exec")
    except (SyntaxError, ValueError) as exc:
        link.send({"op": "ran", "exit_code": 1, "kind": "syntax", "error": f"{type(exc).__name__}: {exc}"})
        return
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    exit_code, kind, error = 0, None, ""
    try:
        _interruptible = True
        exec(code_or_failure, module.__dict__)
        _interruptible = False
    except Interrupted:
        _interruptible = False
        exit_code, kind, error = 1, "timeout", "time limit"
    except SystemExit as exc:
        _interruptible = False
        code = exc.code
        exit_code = code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException as exc:
        _interruptible = False
        exit_code, error = 1, _describe(exc)
        kind = "memory" if isinstance(exc, MemoryError) else "exception"
    sys.stdout.flush()
    sys.stderr.flush()
    link.send({"op": "ran", "exit_code": exit_code, "kind": kind, "error": error})


def serve_solution(link: Link, first: dict[str, Any]) -> None:
    """Loads a solution, then answers each `call` (its inputs decoded, the entrypoint called) with a `result` that
    names the call (`n`, as the host numbered it).

    `loading` says the worker has started; the program's code runs only on the host's `go`, which
    comes once the host has read the worker's CPU time: so the host charges the load alone, all of it.
    A call is charged from a reading the host takes before sending it, decoding included.
    """
    link.send({"op": "loading"})
    max_result = first.get("max_result")  # the bytes of a result message the host accepts (the task's output bound)
    result_limit = max_result if type(max_result) is int and max_result > 0 else _wire.MAX_MESSAGE
    if link.receive().get("op") != "go":
        return
    drive = _harness(first.get("harness"))
    fn, failure = _load(first.get("program"), str(first.get("entrypoint", "algorithm")))
    if failure is None:
        fn = _harnessed(fn, drive)
    link.send({"op": "loaded", "ok": failure is None, **(failure or {})})
    if failure is not None:
        return
    while True:
        message = link.receive()
        op = message.get("op")
        if op == "call":
            turn = {"n": message.get("n")}  # which call this answers
            value, failure = _run_guarded(_decoded_call, fn, message.get("args", []), message.get(_wire.ATTACHED, b""))
            if failure is None:
                try:
                    output = _wire.to_wire(value)
                    try:
                        link.send({"op": "result", "ok": True, "output": output, **turn}, result_limit)
                    except _wire.WireError as exc:
                        raise _wire.WireError(f"the output is too large: {exc} (the task's max_output_bytes, "
                                              "and room for the message around it)") from None
                except _wire.WireError as exc:
                    link.send({"op": "result", "ok": False, "kind": "bad_output", "error": str(exc), **turn})
            else:
                link.send({"op": "result", "ok": False, **failure, **turn})
        elif op == "stop":
            return


class UtilityProxy:
    """What an improver receives as `utility`: every call is scored by the orchestrator."""

    def __init__(self, link: Link, spec: dict[str, Any]) -> None:
        self._link = link
        self.str = spec.get("str", "")
        self.budget = spec.get("budget", 0)
        self.uses = spec.get("uses", 0)

    def __call__(self, solution: Any = None, *args: Any, **kwargs: Any) -> float:
        try:
            payload = _wire.to_wire({"solution": solution, "args": list(args), "kwargs": kwargs})
        except _wire.WireError:
            payload = {"solution": None, "args": [], "kwargs": {}}
        reply = self._link.call("utility", payload)
        self.uses = reply.get("uses", self.uses)
        if not reply.get("ok"):
            raise Exception(reply.get("error", "utility call failed"))
        return float(reply["value"])


class LanguageModelProxy:
    """What an improver receives as `language_model`: the orchestrator owns the budget."""

    def __init__(self, link: Link, spec: dict[str, Any]) -> None:
        self._link = link
        self.budget = spec.get("budget", 0)
        self.max_responses_per_call = spec.get("max_responses_per_call", 1)
        self.times_used = 0

    def _call(self, service: str, args: dict[str, Any]) -> list[str]:
        reply = self._link.call(service, _wire.to_wire(args))
        self.times_used = reply.get("uses", self.times_used)
        if not reply.get("ok"):
            message = reply.get("error", "language model call failed")
            if reply.get("error_kind") in ("refused", "budget"):
                raise helpers.LanguageModelError(message)
            if reply.get("error_kind") == "invalid":
                raise ValueError(message)
            raise Exception(message)
        return list(reply["value"])

    def prompt(self, expertise: Any, message: Any, n_responses: int = 1, temperature: float = 0.7) -> list[str]:
        return self._call(
            "lm.prompt",
            {"expertise": expertise, "message": message, "n_responses": n_responses, "temperature": temperature},
        )

    def batch_prompt(self, expertise: Any, message_batch: Any, temperature: float = 0.7) -> list[str]:
        try:
            messages = list(message_batch)
        except TypeError:
            return []
        return self._call("lm.batch_prompt", {"expertise": expertise, "messages": messages, "temperature": temperature})


def serve_improver(link: Link, first: dict[str, Any]) -> None:
    """Runs `improve_algorithm(initial_solution, utility, language_model)` once."""
    fn, failure = _load(first.get("program"), "improve_algorithm")
    if failure is None:
        utility = UtilityProxy(link, first.get("utility", {}))
        language_model = LanguageModelProxy(link, first.get("lm", {}))
        value, failure = _run_guarded(fn, first.get("initial_solution", ""), utility, language_model)
        if failure is None and not isinstance(value, str):
            failure = {"kind": "no_solution", "error": f"improve_algorithm returned {type(value).__name__}, not a "
                       "solution string" + (" (no reply held a code block?)" if value is None else "")}
        if failure is None:
            try:
                link.send({"op": "done", "ok": True, "solution": value})
                return
            except _wire.WireError as exc:  # too long for one message: not a solution the host can take
                failure = {"kind": "no_solution", "error": f"the solution cannot be sent: {exc}"}
    link.send({"op": "done", "ok": False, **(failure or {})})


def main() -> None:
    reader = os.fdopen(os.dup(0), "rb")
    writer = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the program's prints go to stderr, never onto the protocol
    signal.signal(signal.SIGUSR1, _on_interrupt)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    link = Link(reader, writer)
    setup = link.receive()
    try:
        _apply_limits(setup.get("limits", {}), setup.get("rlimits", {}))
        _seed(int(setup.get("seed", 0)))
        global _record
        _record = _audit.install([sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(__file__))])
    except Exception as exc:
        if not setup.get("ack"):
            raise
        link.send({"op": "setup_failed", "error": _wire.plain_text(f"{type(exc).__name__}: {exc}"[:500])})
        os._exit(71)
    if setup.get("ack"):  # a forked worker: its host waits for this before it hands the worker out
        link.send({"op": "set_up"})
    first = link.receive()
    if first.get("op") == "load":
        serve_solution(link, first)
    elif first.get("op") == "improve":
        serve_improver(link, first)
    elif first.get("op") == "run":
        serve_script(link, first)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
