"""Trainer callbacks: Azure's results.csv, status.json, full-validation scheduling, a test hook."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from reconciler.fileio import read_json, write_atomic, write_json_atomic
from reconciler.localruns import RESULTS_COLUMNS, STATUS


def truncate_results(path: Path, upto_step: int) -> None:
    """Keep rows up to the checkpoint a run resumes from (later ones will be logged again)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= upto_step]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, RESULTS_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


class ResultsCsv(TrainerCallback):
    """One row per logged step with Azure's columns; blank cells where nothing was measured.

    A step's train log and its evaluations arrive as separate log events; they are merged by
    step and a row is appended when a later step starts, at each save and at the end. Losses and
    accuracies are paired within one event (trl logs the accuracy as plain
    `eval_mean_token_accuracy`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict[str, Any] | None = None
        self.written_step = -1

    def _row(self, step: int) -> dict[str, Any]:
        if self.pending is not None and self.pending["step"] != step:
            self.flush()
        if self.pending is None and step == self.written_step:
            self.pending = self._take_back(step)
        if self.pending is None:
            self.pending = {"step": step}
        return self.pending

    def _take_back(self, step: int) -> dict[str, Any]:
        """A late event for a row already written (rare): reopen that row."""
        with self.path.open(newline="") as f:
            last = list(csv.DictReader(f))[-1]
        truncate_results(self.path, step - 1)
        return {k: v for k, v in last.items() if v != ""}

    def flush(self) -> None:
        if self.pending is None:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, RESULTS_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(self.pending)
        self.written_step = self.pending["step"]
        self.pending = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        step = state.global_step
        if "loss" in logs:
            row = self._row(step)
            row["train_loss"] = logs["loss"]
            row["train_mean_token_accuracy"] = logs.get("mean_token_accuracy", "")
        elif "eval_full_valid_loss" in logs:
            row = self._row(step)
            row["full_valid_loss"] = logs["eval_full_valid_loss"]
            row["full_valid_mean_token_accuracy"] = logs.get(
                "eval_full_valid_mean_token_accuracy", logs.get("eval_mean_token_accuracy", "")
            )
        elif "eval_loss" in logs:
            row = self._row(step)
            row["valid_loss"] = logs["eval_loss"]
            row["validation_mean_token_accuracy"] = logs.get("eval_mean_token_accuracy", "")

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.flush()


class StatusJson(TrainerCallback):
    """status.json for `status` and `apply --wait`: phase, step, max_steps, last loss."""

    def __init__(self, run_dir: Path, base: dict[str, Any]) -> None:
        self.path = run_dir / STATUS
        self.base = base
        self.last_write = 0.0

    def write(self, **fields: Any) -> None:
        status = {**(read_json(self.path) or {}), **self.base, **fields, "updated": time.time()}
        write_json_atomic(self.path, status)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.write(phase="running", step=state.global_step, max_steps=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and not math.isfinite(logs["loss"]):
            raise FloatingPointError(
                f"non-finite training loss {logs['loss']} at step "
                f"{state.global_step}; lower learningRate or use fp32/bf16"
            )
        if state.is_world_process_zero and logs and "loss" in logs:
            self.write(
                phase="running",
                step=state.global_step,
                max_steps=state.max_steps,
                loss=logs["loss"],
                epoch=state.epoch,
            )


class FullValidSchedule(TrainerCallback):
    """Ask for an evaluation at each epoch end and at the last step, and mark it as a full one.

    The trainer mixin (`run.FullValidMixin`) then also evaluates the whole validation file. The
    epoch end is caught at the step's end (the epoch counter is then whole), so the evaluation runs
    before that step's checkpoint is saved and a resumed run cannot miss it.
    """

    def __init__(self) -> None:
        self.full_due = False
        self.last_full_step = -1

    def _due(self, state, control) -> None:
        if state.global_step != self.last_full_step:
            self.full_due = True
            self.last_full_step = state.global_step
            control.should_evaluate = True

    def on_step_end(self, args, state, control, **kwargs):
        epoch = state.epoch or 0.0
        if state.global_step >= state.max_steps or (
            epoch >= 1 and abs(epoch - round(epoch)) < 1e-9
        ):
            self._due(state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        self._due(state, control)


class StepDelay(TrainerCallback):
    """Test hook (`FTOPS_TRAINING_STEP_DELAY_S`): sleep after each step so a test can kill the run
    mid-way; it changes timing only, never numerics."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)
