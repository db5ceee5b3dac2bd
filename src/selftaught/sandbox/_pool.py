"""The zygotes of a warm pool: the idle ones, those sweeping after a child, starting new ones (see `_warm`).

A retired child's zygote sweeps while the orchestrator goes on: `retiring` records it, and its answer
is read before it serves again (`take` reads the answers already there, and waits for the oldest when no
zygote is idle). A clean one goes back to the idle ones, any other is destroyed, exactly as when the
orchestrator waited for the sweep: only the waiting moved off the evaluation's path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from selftaught.errors import WorkerError
from selftaught.sandbox._bwrap import BwrapSandbox
from selftaught.sandbox._zygote import Zygote

LAUNCHER_THREADS = 2  # zygotes started at once (each start is about 0.1 s of a core)


class ChildExit:
    """A forked child's exit status, as `subprocess.Popen.returncode` says it (None: unknown); known once its
    zygote's sweep has answered (reading `returncode` waits for that)."""

    def __init__(self) -> None:
        self._code: int | None = None
        self._settle: Callable[[], None] | None = None

    @property
    def returncode(self) -> int | None:
        settle, self._settle = self._settle, None
        if settle is not None:
            settle()
        return self._code


class _Sweep:
    """A zygote sweeping after its child: whoever takes it from `ZygotePool.sweeping` reads its answer."""

    def __init__(self, zygote: Zygote, exit_status: ChildExit) -> None:
        self.zygote = zygote
        self.exit = exit_status
        self.done = threading.Event()


class ZygotePool:
    """The idle and sweeping zygotes, shared by the pool's threads (the lists under `lock`)."""

    def __init__(self, sandbox: BwrapSandbox, size: int) -> None:
        self.sandbox = sandbox
        self.size = size
        self.lock = threading.Lock()
        self.idle: list[Zygote] = []
        self.sweeping: list[_Sweep] = []  # oldest first
        self.starting = 0
        self.busy = 0  # zygotes lent to a launch and not yet back (retiring or discarded)
        self.closed = False
        self.started = 0
        self.discarded: list[str] = []  # why zygotes were destroyed (the latest few), for reports and tests
        # Zygotes are started from these long-lived threads only: bubblewrap's --die-with-parent fires when the
        # *thread* that started it ends (PR_SET_PDEATHSIG), and a zygote outlives whichever thread asked for it.
        self.launcher = ThreadPoolExecutor(max_workers=LAUNCHER_THREADS, thread_name_prefix="selftaught-zygote")

    def start(self) -> Zygote:
        try:
            zygote = self.launcher.submit(Zygote, self.sandbox).result()
        except RuntimeError as exc:  # the launcher is shut down: the pool was closed meanwhile
            raise WorkerError("the warm pool is closed") from exc
        with self.lock:
            self.started += 1
        return zygote

    def take(self) -> Zygote | None:
        """The most recently used idle zygote (its pages are the warmest), else the oldest sweeping one once clean,
        else None."""
        self.collect()
        while True:
            with self.lock:
                while self.idle:
                    zygote = self.idle.pop()
                    if zygote.alive:
                        return zygote
                    self._note(f"zygote {zygote.number} died while idle")
                    threading.Thread(target=zygote.destroy, daemon=True).start()
                if not self.sweeping:
                    return None
                sweep = self.sweeping.pop(0)
            self._settle(sweep)  # back among the idle ones if clean

    def retiring(self, zygote: Zygote, exit_status: ChildExit) -> None:
        """`zygote` was told to end its child and sweep; its answer is read later (`exit_status` then known)."""
        sweep = _Sweep(zygote, exit_status)
        exit_status._settle = lambda: self._settle_one(sweep)
        with self.lock:
            closed = self.closed
            if not closed:
                self.sweeping.append(sweep)
        if closed:
            self._settle(sweep)

    def collect(self, wait: bool = False) -> None:
        """Reads the answers of the sweeping zygotes that have answered (`wait`: of all of them)."""
        with self.lock:
            done = [s for s in self.sweeping if wait or s.zygote.answered()]
            self.sweeping = [s for s in self.sweeping if s not in done]
        for sweep in done:
            self._settle(sweep)

    def _settle_one(self, sweep: _Sweep) -> None:
        with self.lock:
            mine = sweep in self.sweeping
            if mine:
                self.sweeping.remove(sweep)
        if mine:
            self._settle(sweep)
        else:  # another thread reads it
            sweep.done.wait()

    def _settle(self, sweep: _Sweep) -> None:
        """Reads a sweep's answer (the caller took it from `sweeping`): a clean zygote goes back, any other is
        destroyed."""
        try:
            status, clean, why = sweep.zygote.finish_retire()
        except WorkerError as exc:
            self.discard(sweep.zygote, str(exc))
        else:
            sweep.exit._code = status
            if clean:
                self.give_back(sweep.zygote)
            else:
                self.discard(sweep.zygote, f"the sweep found: {why}")
        finally:
            sweep.done.set()

    def give_back(self, zygote: Zygote) -> None:
        with self.lock:
            if self.closed:
                extra = [zygote]
            else:
                self.idle.append(zygote)
                extra = self.idle[: max(0, len(self.idle) - self.size)]  # the oldest beyond `size`
                del self.idle[: len(extra)]
        for z in extra:
            z.destroy()

    def discard(self, zygote: Zygote, why: str) -> None:
        with self.lock:
            self._note(f"zygote {zygote.number}: {why}")
        zygote.destroy()
        self.replenish()

    def _note(self, why: str) -> None:
        self.discarded = [*self.discarded[-9:], why]

    def lent(self) -> None:
        """A zygote went to a launch (its worker gives it back once: `returned`)."""
        with self.lock:
            self.busy += 1

    def returned(self) -> None:
        """A lent zygote came back: retiring, or about to be discarded."""
        with self.lock:
            self.busy -= 1

    def replenish(self) -> None:
        """Starts a spare zygote in the background when none is idle, sweeping or starting, so the next launch is
        warm; not when `size` zygotes are lent already (as many as an executor with `size` workers runs at once:
        a spare would only be destroyed when they come back, beyond the `size` kept idle)."""
        with self.lock:
            if self.closed or self.idle or self.sweeping or self.starting or self.busy >= self.size:
                return
            self.starting += 1
        threading.Thread(target=self._start_spare, name="selftaught-zygote", daemon=True).start()

    def _start_spare(self) -> None:
        try:
            zygote: Zygote | None = self.start()
        except Exception as exc:  # the next launch starts one itself, and says why if it cannot
            zygote = None
            with self.lock:
                self._note(f"a spare zygote did not start: {exc}")
        with self.lock:
            self.starting -= 1
        if zygote is not None:
            self.give_back(zygote)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
            sweeping, self.sweeping = self.sweeping, []
        for zygote in idle:
            zygote.destroy()
        for sweep in sweeping:
            sweep.zygote.destroy()
            sweep.done.set()
        self.launcher.shutdown(wait=False)
