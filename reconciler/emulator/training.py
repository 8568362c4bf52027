"""The fine-tuning job lifecycle as a lazy state machine over simulated time.

A job is `pending` in its account's queue until the account's single training slot is free; then
its whole run is planned at once as timeline rows (status changes, events, checkpoints) stamped
with the simulated time at which they happen. Reads filter the timeline by `now`, so progress is
derived from the clock rather than pushed by a background thread, and a restarted emulator picks
up exactly where it was. Cancel and pause cut the timeline at `now`; resume re-queues the rest.

Phases of a run (simulated seconds): queue delay, data safety evaluation, training (a fixed
overhead plus trained tokens at a fixed rate; reinforcement runs take hours, times their
compute_multiplier), model safety evaluation and publishing.

A job is paused by the user (FineTuning_Pause), by Azure when Developer-tier capacity is reclaimed
(the preempt test control), or by Azure when a reinforcement job's cost reaches the cap: the cost
cap is checked lazily too, at the simulated moment the training time bought by the cap runs out.
The newest "Job paused…" event says which. Only training time is billed; a paused job accrues none.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import sqlite3
from typing import Any

from reconciler.emulator import ids
from reconciler.emulator.catalog import RFT_DEFAULT_COST_CAP_USD, RFT_USD_PER_TRAINING_HOUR
from reconciler.emulator.store import dumps, get_meta, loads, set_meta

QUEUE_SECONDS = 60.0
DATA_EVALUATION_SECONDS = 120.0
TRAINING_BASE_SECONDS = 300.0
TRAINED_TOKENS_PER_SECOND = 10.0
# Reinforcement: every step samples answers and grades them, so a small file trains for hours.
RFT_BASE_SECONDS = 3 * 3600.0
RFT_TRAINED_TOKENS_PER_SECOND = 2.0
HOUR = 3600.0
MODEL_EVALUATION_SECONDS = 240.0
MAX_METRICS_EVENTS = 100
CHECKPOINT_EPOCHS = 3

TERMINAL = ("succeeded", "failed", "cancelled")
PAUSE_MESSAGES = {
    "user": "Job paused by the user at step {step}.",
    "preempted": "Job paused: Developer-tier capacity was reclaimed (preempted) at step {step}.",
}
COST_CAP_KEY = "rft_cost_cap_usd"
COST_CAP_SET_AT_KEY = "rft_cost_cap_set_at"
DATA_SAFETY_MESSAGE = (
    "The provided training data failed RAI checks for harm types: "
    "[hate_fairness, self_harm, violence]. Please fix the data and try again."
)
MODEL_SAFETY_MESSAGE = (
    "This model is unable to be deployed. Model evaluation identified that this fine tuned model "
    "scores above acceptable thresholds for [violence, self_harm]. Please review your training "
    "data set and resubmit the job."
)
RESULTS_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


# --- reading the timeline -------------------------------------------------------------------


def status_at(db: sqlite3.Connection, job_id: str, now: float) -> str:
    row = db.execute(
        "SELECT item_id FROM timeline WHERE job_id = ? AND kind = 'status' AND at <= ? "
        "ORDER BY at DESC, seq DESC LIMIT 1",
        (job_id, now),
    ).fetchone()
    return "pending" if row is None else str(row["item_id"])


def visible(db: sqlite3.Connection, job_id: str, kind: str, now: float) -> list[sqlite3.Row]:
    """Timeline items of one kind that have happened by `now`, newest first."""
    return list(
        db.execute(
            "SELECT * FROM timeline WHERE job_id = ? AND kind = ? AND at <= ? "
            "ORDER BY at DESC, seq DESC",
            (job_id, kind, now),
        )
    )


def add(db: sqlite3.Connection, job_id: str, at: float, kind: str, item_id: str, body: Any) -> None:
    db.execute(
        "INSERT INTO timeline (job_id, at, kind, item_id, body) VALUES (?, ?, ?, ?, ?)",
        (job_id, at, kind, item_id, dumps(body)),
    )


def add_status(db: sqlite3.Connection, job_id: str, at: float, status: str) -> None:
    add(db, job_id, at, "status", status, {})


def add_event(
    db: sqlite3.Connection,
    job_id: str,
    at: float,
    message: str,
    *,
    level: str = "info",
    data: dict[str, Any] | None = None,
) -> None:
    event: dict[str, Any] = {
        "object": "fine_tuning.job.event",
        "id": ids.event_id(),
        "created_at": int(at),
        "level": level,
        "message": message,
        "type": "message" if data is None else "metrics",
    }
    if data is not None:
        event["data"] = data
    add(db, job_id, at, "event", event["id"], event)


def cut_future(db: sqlite3.Connection, job_id: str, now: float) -> None:
    db.execute("DELETE FROM timeline WHERE job_id = ? AND at > ?", (job_id, now))


# --- the loss curve ---------------------------------------------------------------------------


def _noise(job_id: str, step: int, salt: str) -> float:
    digest = hashlib.sha256(f"{job_id}:{step}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 - 0.5


def step_metrics(job_id: str, step: int, plan: dict[str, Any]) -> dict[str, float]:
    """Plausible metrics: the loss falls exponentially with noise; accuracy rises with it."""
    progress = step / plan["total_steps"]
    train_loss = 0.15 + 2.2 * math.exp(-3.5 * progress) + 0.12 * _noise(job_id, step, "t")
    metrics = {
        "step": float(step),
        "train_loss": round(max(0.01, train_loss), 5),
        "train_mean_token_accuracy": round(min(0.999, max(0.0, 1.0 - train_loss / 3.0)), 5),
    }
    if plan["has_validation"]:
        valid_loss = 0.25 + 2.1 * math.exp(-3.0 * progress) + 0.15 * _noise(job_id, step, "v")
        metrics["valid_loss"] = round(max(0.01, valid_loss), 5)
        metrics["valid_mean_token_accuracy"] = round(min(0.999, max(0.0, 1 - valid_loss / 3)), 5)
        if step % plan["steps_per_epoch"] == 0:
            full = 0.25 + 2.1 * math.exp(-3.0 * progress)
            metrics["full_valid_loss"] = round(full, 5)
            metrics["full_valid_mean_token_accuracy"] = round(min(0.999, 1 - full / 3), 5)
    return metrics


def results_csv(job_id: str, plan: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULTS_COLUMNS)
    for step in range(1, plan["total_steps"] + 1):
        metrics = step_metrics(job_id, step, plan)
        row: dict[str, object] = dict(metrics)
        row["validation_mean_token_accuracy"] = metrics.get("valid_mean_token_accuracy", "")
        row["step"] = step
        writer.writerow([row.get(column, "") for column in RESULTS_COLUMNS])
    return out.getvalue().encode()


# --- planning a run -------------------------------------------------------------------------


def plan_run(db: sqlite3.Connection, job: sqlite3.Row, start: float) -> None:
    """Write the rest of a job's run into the timeline, starting at `start`."""
    plan: dict[str, Any] = loads(job["plan"])
    job_id = job["id"]
    from_step = int(job["done_steps"])
    add_status(db, job_id, start, "running")
    at = start
    if from_step == 0 and not plan.get("past_data_evaluation"):
        add_event(db, job_id, at, "Job started.")
        at += DATA_EVALUATION_SECONDS
        if plan["unsafe_data"]:
            _fail(db, job_id, at, "invalidTrainingFile", DATA_SAFETY_MESSAGE, "training_file")
            return
        add_event(db, job_id, at, "Training started.")
    else:
        add_event(db, job_id, at, f"Job resumed from step {from_step}.")
    train_start = at
    at = _plan_training(db, job_id, plan, at, from_step)
    billed = float(plan.get("billed_seconds", 0.0)) + at - train_start
    add_event(db, job_id, at, "Training completed. Evaluating the model's safety.")
    at += MODEL_EVALUATION_SECONDS
    if plan["unsafe_model"]:
        _fail(db, job_id, at, "modelEvaluationFailed", MODEL_SAFETY_MESSAGE, None)
        return
    _succeed(db, job, plan, at, billed)


def training_seconds(plan: dict[str, Any]) -> float:
    """Simulated seconds of a whole run's training (the README's phase table)."""
    if plan["method"] == "reinforcement":
        tokens_seconds = plan["trained_tokens"] / RFT_TRAINED_TOKENS_PER_SECOND
        return (RFT_BASE_SECONDS + tokens_seconds) * float(plan["compute_multiplier"])
    return TRAINING_BASE_SECONDS + plan["trained_tokens"] / TRAINED_TOKENS_PER_SECOND


def _plan_training(
    db: sqlite3.Connection, job_id: str, plan: dict[str, Any], at: float, from_step: int
) -> float:
    total = plan["total_steps"]
    remaining = total - from_step
    duration = training_seconds(plan) * (remaining / total)
    step_seconds = duration / max(1, remaining)
    every = max(1, total // MAX_METRICS_EVENTS)
    # Reinforcement checkpoints every epoch: a job paused at its cost cap keeps what it trained.
    first_checkpoint_epoch = (
        1 if plan["method"] == "reinforcement" else max(1, plan["n_epochs"] - CHECKPOINT_EPOCHS + 1)
    )
    plan_window = {"train_start": at, "step_seconds": step_seconds, "from_step": from_step}
    db.execute(
        "UPDATE jobs SET plan = ? WHERE id = ?", (dumps({**plan, "window": plan_window}), job_id)
    )
    for step in range(from_step + 1, total + 1):
        step_at = at + (step - from_step) * step_seconds
        metrics = step_metrics(job_id, step, plan)
        if step % every == 0 or step == total:
            message = f"Step {step}/{total}: training loss={metrics['train_loss']:.4f}"
            data = {**metrics, "step": step, "total_steps": total}
            add_event(db, job_id, step_at, message, data=data)
        epoch, rest = divmod(step, plan["steps_per_epoch"])
        if rest == 0 and epoch >= first_checkpoint_epoch:
            _add_checkpoint(db, job_id, plan, step, step_at, metrics)
    return at + duration


def _add_checkpoint(
    db: sqlite3.Connection,
    job_id: str,
    plan: dict[str, Any],
    step: int,
    at: float,
    metrics: dict[str, float],
) -> None:
    checkpoint = {
        "object": "fine_tuning.job.checkpoint",
        "id": ids.checkpoint_id(),
        "created_at": int(at),
        "fine_tuned_model_checkpoint": f"{plan['fine_tuned_model']}:ckpt-step-{step}",
        "step_number": step,
        "metrics": metrics,
        "fine_tuning_job_id": job_id,
    }
    add(db, job_id, at, "checkpoint", str(checkpoint["id"]), checkpoint)


def _fail(
    db: sqlite3.Connection, job_id: str, at: float, code: str, message: str, param: str | None
) -> None:
    add_event(db, job_id, at, message, level="error")
    add_status(db, job_id, at, "failed")
    error: dict[str, Any] = {"code": code, "message": message}
    if param is not None:
        error["param"] = param
    db.execute(
        "UPDATE jobs SET planned = 1, outcome = 'failed', error = ?, end_at = ?, slot_until = ? "
        "WHERE id = ?",
        (dumps(error), at, at, job_id),
    )


def _succeed(
    db: sqlite3.Connection, job: sqlite3.Row, plan: dict[str, Any], at: float, billed: float
) -> None:
    job_id = job["id"]
    result_file = job["result_file"] or ids.file_id()
    add_event(db, job_id, at, f"Completed results file: {result_file}")
    if plan["method"] == "reinforcement":
        hours = billed / HOUR
        cost = hours * RFT_USD_PER_TRAINING_HOUR
        add_event(db, job_id, at, f"Training hours billed: {hours:.2f} (${cost:,.2f})")
    else:
        add_event(db, job_id, at, f"Training tokens billed: {plan['trained_tokens']}")
    add_event(db, job_id, at, "Model Evaluation Passed.")
    add_event(db, job_id, at, f"Created fine-tuned model: {plan['fine_tuned_model']}")
    add_event(db, job_id, at, "Job succeeded.")
    add_status(db, job_id, at, "succeeded")
    db.execute(
        "UPDATE jobs SET planned = 1, outcome = 'succeeded', end_at = ?, slot_until = ?, "
        "result_file = ? WHERE id = ?",
        (at, at, result_file, job_id),
    )


# --- the scheduler ----------------------------------------------------------------------------


def settle(db: sqlite3.Connection, now: float) -> None:
    """Bring every job up to `now`: pause jobs at their cost cap, start queued runs whose slot is
    free (a pause frees one), publish finished ones."""
    while enforce_cost_cap(db, now) | _start_all_queued(db, now):
        pass
    _finalize(db, now)


def _start_all_queued(db: sqlite3.Connection, now: float) -> bool:
    accounts = [
        row["account"] for row in db.execute("SELECT DISTINCT account FROM jobs WHERE planned = 0")
    ]
    started = False
    for account in accounts:
        started |= _start_queued(db, account, now)
    return started


def _start_queued(db: sqlite3.Connection, account: str, now: float) -> bool:
    started = False
    while True:
        queued = db.execute(
            "SELECT * FROM jobs WHERE account = ? AND planned = 0 "
            "ORDER BY queued_at, rowid LIMIT 1",
            (account,),
        ).fetchone()
        if queued is None:
            return started
        (slot_free,) = db.execute(
            "SELECT MAX(slot_until) FROM jobs WHERE account = ? AND planned = 1", (account,)
        ).fetchone()
        start = max(queued["queued_at"], slot_free or 0.0)
        if start > now:
            return started
        db.execute(
            "UPDATE jobs SET planned = 1, slot_until = ? WHERE id = ?", (float("inf"), queued["id"])
        )
        plan_run(db, queued, start)
        started = True


def _finalize(db: sqlite3.Connection, now: float) -> None:
    """Create the results file of succeeded runs once their end time has passed."""
    rows = db.execute(
        "SELECT * FROM jobs WHERE finalized = 0 AND outcome = 'succeeded' AND end_at <= ?", (now,)
    ).fetchall()
    for job in rows:
        plan = loads(job["plan"])
        content = results_csv(job["id"], plan)
        db.execute(
            "INSERT INTO files (id, account, filename, purpose, bytes, created_at, ready_at, "
            "outcome, status_details, expires_at, summary, content) "
            "VALUES (?, ?, 'results.csv', 'fine-tune-results', ?, ?, ?, 'processed', NULL, NULL, "
            "'{}', ?)",
            (
                job["result_file"],
                job["account"],
                len(content),
                job["end_at"],
                job["end_at"],
                content,
            ),
        )
        db.execute("UPDATE jobs SET finalized = 1 WHERE id = ?", (job["id"],))


def steps_done(job: sqlite3.Row, now: float) -> int:
    plan = loads(job["plan"])
    window = plan.get("window")
    if window is None or now < window["train_start"]:
        return int(job["done_steps"])
    done = window["from_step"] + int((now - window["train_start"]) / window["step_seconds"])
    return int(min(plan["total_steps"], done))


def in_training(job: sqlite3.Row, now: float) -> bool:
    plan = loads(job["plan"])
    window = plan.get("window")
    if window is None:
        return True  # still before training: data evaluation can be paused too
    return now < _window_end(plan, window)


def _window_end(plan: dict[str, Any], window: dict[str, Any]) -> float:
    return float(
        window["train_start"] + window["step_seconds"] * (plan["total_steps"] - window["from_step"])
    )


def _segment_seconds(plan: dict[str, Any], at: float) -> float:
    """Training seconds of the current run segment by `at` (what it has billed so far)."""
    window = plan.get("window")
    if window is None:
        return 0.0
    return max(0.0, min(at, _window_end(plan, window)) - window["train_start"])


# --- pausing ----------------------------------------------------------------------------------


def pause_job(db: sqlite3.Connection, job: sqlite3.Row, at: float, cause: str) -> int:
    """Pause a job at `at` (cause: user, preempted or cost); return the step it stopped at.
    Its checkpoints so far stay; resume continues from that step."""
    plan = loads(job["plan"])
    done = steps_done(job, at)
    billed = float(plan.get("billed_seconds", 0.0)) + _segment_seconds(plan, at)
    window = plan.get("window")
    # Paused in training (even at step 0): a resume goes on training, not evaluating data again.
    past_data_evaluation = window is not None and at >= window["train_start"]
    plan.update(window=None, billed_seconds=billed, past_data_evaluation=past_data_evaluation)
    if cause == "cost":
        plan["cap_base_seconds"] = billed  # a resume buys another cap's worth of training
        message = _cost_cap_message(db, billed, done)
    else:
        message = PAUSE_MESSAGES[cause].format(step=done)
    cut_future(db, job["id"], at)
    _checkpoint_at_pause(db, job["id"], plan, done, at)
    add_event(db, job["id"], at, message)
    add_status(db, job["id"], at, "paused")
    db.execute(
        "UPDATE jobs SET done_steps = ?, slot_until = ?, end_at = NULL, outcome = NULL, "
        "error = NULL, plan = ? WHERE id = ?",
        (done, at, dumps(plan), job["id"]),
    )
    return done


def _checkpoint_at_pause(
    db: sqlite3.Connection, job_id: str, plan: dict[str, Any], step: int, at: float
) -> None:
    """A paused job can be deployed from where it stopped: a checkpoint at the paused step."""
    exists = db.execute(
        "SELECT 1 FROM timeline WHERE job_id = ? AND kind = 'checkpoint' "
        "AND json_extract(body, '$.step_number') = ?",
        (job_id, step),
    ).fetchone()
    if step > 0 and exists is None:
        _add_checkpoint(db, job_id, plan, step, at, step_metrics(job_id, step, plan))


def _cost_cap_message(db: sqlite3.Connection, billed: float, step: int) -> str:
    hours = billed / HOUR
    cap = cost_cap_usd(db)
    return (
        f"Job paused: the cost limit of ${cap:,.2f} was reached at step {step}; the job has cost "
        f"${hours * RFT_USD_PER_TRAINING_HOUR:,.2f} ({hours:.2f} training hours). Resuming it "
        f"allows another ${cap:,.2f}."
    )


def cost_cap_usd(db: sqlite3.Connection) -> float:
    value = get_meta(db, COST_CAP_KEY)
    return RFT_DEFAULT_COST_CAP_USD if value is None else float(value)


def set_cost_cap_usd(db: sqlite3.Connection, usd: float, now: float) -> None:
    """A new cap applies from `now` on: a job already over it pauses now, never in the past."""
    set_meta(db, COST_CAP_KEY, repr(usd))
    set_meta(db, COST_CAP_SET_AT_KEY, repr(now))
    enforce_cost_cap(db, now)


def enforce_cost_cap(db: sqlite3.Connection, now: float) -> bool:
    """Pause every reinforcement job whose cost reached the cap by `now`, at the moment it did."""
    cap_seconds = cost_cap_usd(db) / RFT_USD_PER_TRAINING_HOUR * HOUR
    cap_set_at = float(get_meta(db, COST_CAP_SET_AT_KEY) or 0.0)
    paused = False
    for job in _training_reinforcement_jobs(db):
        plan = loads(job["plan"])
        spent = float(plan.get("billed_seconds", 0.0)) - float(plan.get("cap_base_seconds", 0.0))
        reached = plan["window"]["train_start"] + max(0.0, cap_seconds - spent)
        reached = max(reached, cap_set_at)
        if reached <= now and reached < _window_end(plan, plan["window"]):
            pause_job(db, job, reached, "cost")
            paused = True
    return paused


def _training_reinforcement_jobs(db: sqlite3.Connection) -> list[sqlite3.Row]:
    """Reinforcement jobs with a planned training window (not paused, cancelled or published)."""
    return list(
        db.execute(
            "SELECT * FROM jobs WHERE planned = 1 AND finalized = 0 "
            "AND json_extract(plan, '$.method') = 'reinforcement' "
            "AND json_extract(plan, '$.window') IS NOT NULL"
        )
    )
