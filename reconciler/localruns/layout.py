"""The run directory: its files, its flock, its checkpoints, and the state read back from them.

{root}/.ftops/runs/{name}/{key[:16]}/
    lock               flock held by the training process (and its launcher) while it runs
    spec.lock.json     the resolved spec: paths, digests, key, planned gradient accumulation
    status.json        phase, step, max_steps, last loss, error (written by the trainer)
    results.csv        Azure's columns, one row per logged step
    checkpoints/checkpoint-N/   only those holding trainer_state.json are complete
    adapter/           adapter_model.safetensors, adapter_config.json (from adapter.tmp/)
    outputs.json       COMMIT MARKER: adapter digests, final metrics, tokens, tokens/s, versions
    train.log          the subprocess's stdout and stderr
"""

from __future__ import annotations

import csv
import fcntl
import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reconciler.fileio import file_digest, read_json, short_digest

from .keys import canonical_json

RESULTS_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)

SPEC_LOCK = "spec.lock.json"
STATUS = "status.json"
OUTPUTS = "outputs.json"
RESULTS = "results.csv"
LOCK = "lock"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
TRAIN_LOG = "train.log"

Phase = Literal["missing", "partial", "running", "succeeded", "failed"]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def runs_root(root: Path) -> Path:
    return root / ".ftops" / "runs"


def run_dir(root: Path, name: str, key: str) -> Path:
    return runs_root(root) / name / short_digest(key)


# --- the lock -------------------------------------------------------------------------------


def lock_held(path: Path) -> bool:
    """True when a live process holds the run's flock (the kernel drops it when it dies)."""
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def acquire_lock(path: Path, *, info: dict[str, Any] | None = None) -> int | None:
    """Take the run's flock without blocking; returns the open fd, or None if someone holds it.

    The holder's pid and host are written into the file for people; liveness is the flock itself,
    so a `kill -9` releases it and pid reuse cannot fool it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    payload = {"pid": os.getpid(), "host": socket.gethostname(), **(info or {})}
    os.ftruncate(fd, 0)
    os.pwrite(fd, canonical_json(payload).encode(), 0)
    return fd


# --- checkpoints and outputs ----------------------------------------------------------------


def checkpoints(run: Path) -> list[tuple[int, Path, bool]]:
    """(step, path, complete) for every checkpoint directory, highest step first.

    Trainer writes `trainer_state.json` last, so a checkpoint is complete only when that file
    exists and parses.
    """
    found = []
    base = run / CHECKPOINTS
    if base.is_dir():
        for child in base.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                state = read_json(child / "trainer_state.json")
                found.append((int(match.group(1)), child, state is not None))
    return sorted(found, reverse=True)


def latest_complete_checkpoint(run: Path) -> Path | None:
    return next((path for _, path, complete in checkpoints(run) if complete), None)


def clean_partial_checkpoints(run: Path) -> list[Path]:
    """Delete checkpoints above the highest complete one (interrupted saves); returns them."""
    removed = []
    for _, path, complete in checkpoints(run):
        if complete:
            break
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def adapter_digests(adapter_dir: Path) -> dict[str, str]:
    return {p.name: file_digest(p) for p in sorted(adapter_dir.iterdir()) if p.is_file()}


def _committed_outputs(run: Path, verify: bool) -> dict[str, Any] | None:
    outputs = read_json(run / OUTPUTS)
    if outputs is None:
        return None
    if verify:
        expected = outputs.get("adapter", {}).get("files", {})
        adapter = run / ADAPTER
        if not expected or not adapter.is_dir():
            return None
        actual = adapter_digests(adapter)
        if any(actual.get(name) != digest for name, digest in expected.items()):
            return None
    return outputs


def _last_results_row(run: Path) -> dict[str, str] | None:
    path = run / RESULTS
    if not path.exists():
        return None
    last = None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train_loss"):
                last = row
    return last


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRunState:
    phase: Phase
    step: int | None = None
    max_steps: int | None = None
    loss: float | None = None
    pid: int | None = None
    last_checkpoint: int | None = None
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float | None:
        if self.step is None or not self.max_steps:
            return None
        return min(1.0, self.step / self.max_steps)

    def describe(self) -> str:
        """One line for `status` and `apply --wait`."""
        if self.phase == "succeeded":
            loss = self.outputs.get("metrics", {}).get("train_loss")
            return "succeeded" + (f" (train loss {loss:.4g})" if loss is not None else "")
        parts: list[str] = [self.phase]
        if self.step is not None:
            parts.append(f"step {self.step}/{self.max_steps or '?'}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


def read_run_state(run: Path, *, verify: bool = False) -> LocalRunState:
    """The phase of a run directory, and its progress (step, max_steps, last loss).

    `verify=True` re-hashes the adapter files against `outputs.json` (a corrupted or edited
    adapter then reads as partial, and is retrained).
    """
    if not (run / SPEC_LOCK).exists():
        return LocalRunState(phase="missing")
    outputs = _committed_outputs(run, verify)
    if outputs is not None:
        return _succeeded(outputs)
    status = read_json(run / STATUS) or {}
    common = _progress(run, status)
    if lock_held(run / LOCK):
        lock = read_json(run / LOCK) or {}
        return LocalRunState(phase="running", pid=lock.get("pid"), **common)
    if status.get("phase") == "failed":
        return LocalRunState(phase="failed", error=status.get("error"), **common)
    return LocalRunState(phase="partial", **common)


def _succeeded(outputs: dict[str, Any]) -> LocalRunState:
    metrics = outputs.get("metrics", {})
    return LocalRunState(
        phase="succeeded",
        step=metrics.get("global_step"),
        max_steps=metrics.get("max_steps"),
        loss=metrics.get("train_loss"),
        outputs=outputs,
    )


def _progress(run: Path, status: dict[str, Any]) -> dict[str, Any]:
    """Step, max_steps, last loss and last complete checkpoint of an uncommitted run."""
    step, loss = status.get("step"), status.get("loss")
    if step is None:
        row = _last_results_row(run)
        if row:
            step, loss = int(row["step"]), float(row["train_loss"])
    complete = latest_complete_checkpoint(run)
    return {
        "step": step,
        "max_steps": status.get("max_steps"),
        "loss": loss,
        "last_checkpoint": int(complete.name.split("-")[1]) if complete else None,
    }
