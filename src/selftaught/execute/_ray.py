"""The Ray executor: each candidate evaluation is a Ray task, run in the sandbox selected on its node."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from importlib import metadata
from typing import Any

import ray
import ray.exceptions

from selftaught._text import last_line
from selftaught.config import Config
from selftaught.errors import InfrastructureError, SelftaughtError, TaskError, UserError, WorkerError
from selftaught.evaluate import Evaluation, EvaluationProgress, evaluate
from selftaught.execute._taskref import TaskCache, TaskRef, task_ref
from selftaught.sandbox import Limits, Sandbox, SandboxChoice, select_sandbox, warmed
from selftaught.tasks import SplitSecret, Task

CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before Ray is asked to (it retries for minutes)

_tasks = TaskCache()  # on a node: the tasks this Ray worker process rebuilt


def _version() -> str:
    try:
        return metadata.version("selftaught")
    except metadata.PackageNotFoundError:
        return "unknown"


_warm_pools: dict[tuple[str, int], Sandbox] = {}  # per Ray worker process: (sandbox mode, memory) -> its pool


def _node_sandbox(choice: SandboxChoice, mode: str, memory_mb: int, warm: bool) -> Sandbox:
    """The sandbox this Ray worker process evaluates in: warm workers of the node's bubblewrap sandbox (one
    zygote: a Ray worker runs one evaluation at a time), else the selected sandbox itself."""
    if not warm:
        return choice.sandbox
    key = (mode, memory_mb)
    if key not in _warm_pools:
        _warm_pools[key] = warmed(choice.sandbox, size=1)
    return _warm_pools[key]


def _evaluate_on_node(ref: TaskRef, program: str, split: str, seed: int, key: bytes, sandbox: str,
                      memory_mb: int, version: str, warm: bool = True) -> tuple[Evaluation, str, str | None]:
    """Runs on a Ray worker: the evaluation, the node's address, and its sandbox warning (if isolation is reduced).

    The sandbox is selected here, on the node, once per Ray worker process (`select_sandbox` is
    cached); the task is rebuilt from `ref` once per process too; the secret arrives as its key only.
    """
    node: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    if version != _version():
        raise InfrastructureError(f"Ray node {node} has selftaught {_version()}, the orchestrator {version}: "
                                  "install the same version on every node")
    try:
        choice = select_sandbox(sandbox, Limits(memory_mb=memory_mb))
    except SelftaughtError as exc:  # plain errors (one message), which travel back intact
        kind = UserError if isinstance(exc, UserError) else InfrastructureError
        raise kind(f"on Ray node {node}: {exc}") from None
    task = _tasks.get(ref)
    evaluation = evaluate(task, program, split, sandbox=_node_sandbox(choice, sandbox, memory_mb, warm), seed=seed,
                          secret=SplitSecret(key, "orchestrator"))
    return evaluation, node, choice.warning


_remote: Any = ray.remote(num_cpus=1)(_evaluate_on_node)  # one core per evaluation (its worker computes)


class RayExecutor:
    """Evaluations as Ray tasks on a cluster (`config.ray_address`, else RAY_ADDRESS, else a local instance).

    Every node needs selftaught (this version) and bubblewrap installed; each selects its own sandbox
    with `config.sandbox` and `config.memory_mb`. What travels to a node with each evaluation: the
    program, the task (a built-in's name, a task file's bytes, or a task made in Python pickled) and
    the split secret's key, from which the node derives the split's instances. The nodes are trusted,
    like the orchestrator: the secret and the instances stay in Ray's processes, never in a candidate's
    worker. `workers` is the cluster's CPU count when it connected: Ray's scheduler queues evaluations
    beyond it; how many the orchestrator asks for at once is set by its own threads (`--workers`).
    """

    name = "ray"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._owner = _connect(config.ray_address)
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._version = _version()
        try:
            self.workers = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        except Exception as exc:  # Ray's own errors: the cluster is gone
            self.close()
            raise InfrastructureError(f"the Ray cluster does not answer: {last_line(str(exc))}") from None
        if self.workers < 1:
            self.close()
            raise InfrastructureError("the Ray cluster has no CPUs to run evaluations on")

    def evaluate(self, task: Task, program: str, split: str, *, seed: int, secret: SplitSecret,
                 progress: EvaluationProgress | None = None) -> Evaluation:
        """Runs the evaluation as a Ray task; its `progress` is not reported (it stays on the node)."""
        cfg = self.config
        ref = task_ref(task)
        try:
            pending = _remote.remote(ref, program, split, seed, secret.key, cfg.sandbox, cfg.memory_mb, self._version,
                                     cfg.warm_workers)
        except TypeError as exc:  # a task made in Python that cannot be pickled
            raise TaskError(f"task {task.name} cannot be sent to Ray nodes: {last_line(str(exc), 200)}") from None
        try:
            try:
                evaluation, node, warning = ray.get(pending)
            except KeyboardInterrupt:  # Ctrl-C: stop the evaluation on its node too (bwrap workers die with it)
                with contextlib.suppress(Exception):
                    ray.cancel(pending, force=True)
                raise
        except ray.exceptions.RayTaskError as exc:
            cause = _cause(exc)
            if isinstance(cause, SelftaughtError):
                raise cause from None
            raise cause from exc  # a bug: its traceback on the node comes with it
        except (ray.exceptions.RayError, ConnectionError) as exc:
            raise WorkerError(f"Ray could not run an evaluation ({type(exc).__name__}): "
                              f"{last_line(str(exc), 200)}") from None
        if warning:
            self._warn(node, warning)
        assert isinstance(evaluation, Evaluation)
        return evaluation

    def _warn(self, node: str, warning: str) -> None:
        """A node's reduced isolation, said once per node on stderr (like the local sandbox's warning)."""
        with self._lock:
            if (node, warning) in self._warned:
                return
            self._warned.add((node, warning))
        sys.stderr.write(f"\n*** on Ray node {node}: {warning.rstrip('.')}. On a Ray node a candidate can also "
                         "reach Ray's ports, and through them the cluster (see docs/scale.md)\n\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Disconnects from Ray if this executor connected (a connection made before it is left alone)."""
        if self._owner:
            self._owner = False
            _release()


def _cause(exc: ray.exceptions.RayTaskError) -> BaseException:
    """What a remote evaluation raised, as it was raised there (a task's ScorerError stays a ScorerError)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ImportError):
        return InfrastructureError(f"a Ray node cannot import what an evaluation needs ({last_line(str(cause))}): "
                                   "install selftaught (this version) on every node")
    if isinstance(cause, Exception):
        return cause
    return WorkerError(f"an evaluation failed on Ray: {last_line(str(exc), 200)}")


_connections = 0  # executors using the connection this module made (it is dropped when the last one closes)
_connection_lock = threading.Lock()


def _connect(address: str | None) -> bool:
    """Joins Ray unless this process already has (then that connection is used as it is); True if this module did."""
    global _connections
    with _connection_lock:
        if _connections == 0 and ray.is_initialized():
            return False
        if _connections == 0:
            _init(address)
        _connections += 1
        return True


def _release() -> None:
    global _connections
    with _connection_lock:
        _connections -= 1
        if _connections == 0:
            ray.shutdown()


def _init(address: str | None) -> None:
    """`ray.init` at `address` (None: RAY_ADDRESS, else the latest local `ray start`, else a new local instance)."""
    target = address or os.environ.get("RAY_ADDRESS")
    _check_reachable(target)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=True,
                 logging_level=logging.ERROR)
    except ValueError as exc:
        if "ray[client]" in str(exc):
            raise UserError(f"a ray:// address needs Ray's client: pip install 'ray[client]' ({target})") from None
        raise UserError(f"--ray-address {target}: {last_line(str(exc), 200)}") from None
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
        where = f"at {target}" if target else "(a local instance)"
        raise InfrastructureError(f"cannot connect to Ray {where}: {last_line(str(exc), 200)}") from None


def _check_reachable(address: str | None) -> None:
    """A one-line error in seconds when nothing listens at HOST:PORT (Ray itself would retry for minutes)."""
    if not address or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise InfrastructureError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} (is "
                                  "`ray start --head` running there?)") from None
