"""The local-run provider: starts the training subprocess and follows it through the run directory.

`LocalRunner.start` writes `spec.lock.json`, takes the run's flock and spawns
`python -m reconciler.training RUN_DIR` (or the same module under `accelerate launch` / `torchrun`
when `compute.numProcesses > 1`), handing the locked descriptor to the child so that the run
reads as `running` from the first instant until the last process exits (a `kill -9` releases it).
Progress and results are read back from `status.json`, `results.csv` and `outputs.json`
(`reconciler.localruns`).
No torch here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import localruns
from reconciler.errors import FtopsError
from reconciler.fileio import write_json_atomic
from reconciler.live import LocalRunLive
from reconciler.localruns import LocalRunState
from reconciler.plans import StartLocalRun

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYTHONUNBUFFERED": "1",
}

ProgressCallback = Callable[[LocalRunState], None]


class LocalRunError(FtopsError):
    """A local run could not be started, or it failed."""


@dataclass(frozen=True)
class LocalRunHandle:
    run_dir: Path
    pid: int
    command: tuple[str, ...]


def training_command(spec: dict[str, Any], run_dir: Path) -> list[str]:
    """The command line for a resolved spec: the launcher only when there are several processes."""
    compute = spec["compute"]
    n, launcher = int(compute["numProcesses"]), compute["launcher"]
    module = ["-m", "reconciler.training", str(run_dir)]
    if n <= 1 or launcher == "python":
        return [sys.executable, *module]
    if launcher == "accelerate":
        # Without --multi_gpu (or a config file), accelerate falls back to ONE process when it sees
        # fewer than two GPUs; say it, so N processes always means N (DDP; gloo on CPU).
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(n),
            *module,
        ]
    if launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), *module]
    raise LocalRunError(f"unknown launcher {launcher!r}", code="LOCAL_LAUNCHER")


class LocalRunner:
    """Start, follow and read local training runs. One instance may follow many runs."""

    def __init__(self, env: dict[str, str] | None = None, poll_interval_s: float = 0.5) -> None:
        self.extra_env = env or {}
        self.poll_interval_s = poll_interval_s
        self._children: dict[Path, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        key: str,
        resolved_spec: dict[str, Any],
        run_dir: Path,
        *,
        detach: bool = False,
    ) -> LocalRunHandle:
        """Write spec.lock.json and spawn the trainer; raises if the run is already running.

        `resolved_spec` is `localruns.resolved_run_spec(...)`. With `detach=True` the child gets its
        own session and outlives this process (`apply` without `--wait`).
        """
        if resolved_spec.get("key") != key or resolved_spec.get("name") != name:
            raise LocalRunError("resolved spec does not match the run's name and key")
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = localruns.acquire_lock(run_dir / localruns.LOCK, info={"key": key})
        if fd is None:
            raise LocalRunError(
                f"local run {name} ({key[:16]}) is already running",
                code="LOCAL_RUN_BUSY",
                hint="wait for it (apply --wait) or stop that process",
            )
        try:
            write_json_atomic(run_dir / localruns.SPEC_LOCK, resolved_spec)
            command = training_command(resolved_spec["spec"], run_dir)
            env = {**os.environ, **OFFLINE_ENV, **self.extra_env, "FTOPS_LOCK_FD": str(fd)}
            with (run_dir / localruns.TRAIN_LOG).open("ab") as log:
                child = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=(fd,),
                    start_new_session=detach,
                )
            # Record the child as the holder (the flock travels with the inherited descriptor).
            os.ftruncate(fd, 0)
            os.pwrite(fd, localruns.canonical_json({"pid": child.pid, "key": key}).encode(), 0)
        finally:
            os.close(fd)
        if not detach:
            self._children[run_dir] = child
        return LocalRunHandle(run_dir=run_dir, pid=child.pid, command=tuple(command))

    def state(self, run_dir: Path, *, verify: bool = False) -> LocalRunState:
        self._reap(run_dir)
        return localruns.read_run_state(run_dir, verify=verify)

    def wait(
        self,
        run_dir: Path,
        on_progress: ProgressCallback | None = None,
        *,
        timeout_s: float | None = None,
    ) -> LocalRunState:
        """Poll until the run is no longer running; calls `on_progress` when step or phase change.

        Returns the final state (succeeded, failed, or partial when the trainer died without a
        word, e.g. killed); raises `LocalRunError` on timeout.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen: tuple[Any, ...] | None = None
        while True:
            state = self.state(run_dir)
            marker = (state.phase, state.step, state.loss)
            if on_progress is not None and marker != seen:
                on_progress(state)
            seen = marker
            if state.phase != "running":
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise LocalRunError(
                    f"timed out waiting for {run_dir} ({state.describe()})",
                    code="LOCAL_RUN_TIMEOUT",
                )
            time.sleep(self.poll_interval_s)

    def _reap(self, run_dir: Path) -> None:
        child = self._children.get(run_dir)
        if child is not None and child.poll() is not None:
            del self._children[run_dir]


def log_tail(run_dir: Path, lines: int = 20) -> str:
    """The end of train.log, for error messages."""
    path = run_dir / localruns.TRAIN_LOG
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class LocalRuns:
    """The provider apply uses for local runs: reads a run's live state from its directory under
    `.ftops/runs/`, starts (or resumes) the trainer, and follows it with `--wait`."""

    def __init__(
        self,
        root: Path,
        *,
        timeout_s: float | None = None,
        on_progress: Callable[[str, LocalRunState], None] | None = None,
        runner: LocalRunner | None = None,
    ) -> None:
        self.root = root
        self.timeout_s = timeout_s
        self.on_progress = on_progress
        self.runner = runner or LocalRunner()

    def read(self, name: str, key: str, placement: dict[str, Any] | None = None) -> LocalRunLive:
        state = self.runner.state(localruns.run_dir(self.root, name, key), verify=True)
        return LocalRunLive(
            name=name,
            key=key,
            phase=state.phase,
            step=state.step,
            max_steps=state.max_steps,
            last_checkpoint=state.last_checkpoint,
            detail=state.error or state.describe(),
        )

    def start(self, change: StartLocalRun, *, wait: bool) -> str:
        run_dir = localruns.run_dir(self.root, change.name, change.key)
        self.runner.start(change.name, change.key, change.spec, run_dir, detach=not wait)
        if not wait:
            return f"training in the background (log: {run_dir / localruns.TRAIN_LOG})"
        state = self.runner.wait(run_dir, self._progress(change.name), timeout_s=self.timeout_s)
        if state.phase != "succeeded":
            raise LocalRunError(
                f"local run {change.name} ended {state.describe()}",
                code="LOCALRUN_FAILED",
                hint=log_tail(run_dir, 5) or None,
            )
        return state.describe()

    def _progress(self, name: str) -> ProgressCallback | None:
        show = self.on_progress
        return (lambda state: show(name, state)) if show else None
