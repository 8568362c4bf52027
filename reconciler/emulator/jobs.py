"""Data plane: fine-tuning jobs (create, list, get, cancel, pause, resume, events, checkpoints,
delete), and what ARM needs to know about the models they produce."""

from __future__ import annotations

import math
import random
import re
import sqlite3
from typing import Any

from reconciler.emulator import ids, training
from reconciler.emulator.catalog import (
    MAX_JOBS,
    MAX_QUEUED_JOBS,
    MAX_SUFFIX_LENGTH,
    base_model_by_id,
)
from reconciler.emulator.routing import ApiError, Call, Reply
from reconciler.emulator.store import dumps, loads
from reconciler.emulator.world import cursor_page, data_plane_account

PREVIEW = "2025-04-01-preview"
SUFFIX = re.compile(r"^[a-zA-Z0-9_-]*$")
AUTO = "auto"
# "auto" values are reported as -1 until the job starts (Azure's examples), then resolved.
UNRESOLVED = -1
HYPERPARAMETER_RANGES: dict[str, tuple[float, float, type]] = {
    "n_epochs": (1, 50, int),
    "batch_size": (1, 256, int),
    "learning_rate_multiplier": (1e-6, 10.0, float),
    "beta": (1e-6, 2.0, float),
}
NOT_CONFLICT = {"x-should-retry": "false"}
RESUME_SECONDS = 30.0


# --- reading jobs ---------------------------------------------------------------------------


def job_row(db: sqlite3.Connection, account: str, job_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM jobs WHERE account = ? AND id = ?", (account, job_id)
    ).fetchone()
    if row is None:
        raise ApiError(404, "notFound", f"Fine-tuning job '{job_id}' not found.")
    return row


def job_json(
    db: sqlite3.Connection, row: sqlite3.Row, now: float, api_version: str
) -> dict[str, Any]:
    request = loads(row["request"])
    plan = loads(row["plan"])
    status = training.status_at(db, row["id"], now)
    started = row["planned"] and status != "pending"
    body: dict[str, Any] = {
        "object": "fine_tuning.job",
        "id": row["id"],
        "created_at": int(row["created_at"]),
        "status": status,
        "model": request["model"],
        "training_file": request["training_file"],
        "result_files": [],
        "hyperparameters": _reported(request["hyperparameters"], plan, bool(started)),
        "seed": plan["seed"],
    }
    for key in ("validation_file", "suffix"):
        if request.get(key) is not None:
            body[key] = request[key]
    _add_outcome(body, row, status, plan)
    if status in ("running", "resuming") and row["end_at"] is not None:
        body["estimated_finish"] = int(row["end_at"])
    if api_version == PREVIEW:
        body["method"] = _reported_method(request, plan, bool(started))
        if request.get("integrations"):
            body["integrations"] = request["integrations"]
    return body


def _add_outcome(body: dict[str, Any], row: sqlite3.Row, status: str, plan: dict[str, Any]) -> None:
    if status not in training.TERMINAL:
        return
    body["finished_at"] = int(row["end_at"]) if row["end_at"] is not None else body["created_at"]
    if status == "succeeded":
        body["fine_tuned_model"] = row["fine_tuned_model"]
        body["trained_tokens"] = plan["trained_tokens"]
        body["result_files"] = [row["result_file"]]
    elif status == "failed" and row["error"]:
        body["error"] = loads(row["error"])


def _reported(requested: dict[str, Any], plan: dict[str, Any], started: bool) -> dict[str, Any]:
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"]
    if plan["method"] == "dpo":
        names.append("beta")
    reported: dict[str, Any] = {}
    for name in names:
        value = requested.get(name, AUTO)
        if value == AUTO:
            value = plan[name] if started else UNRESOLVED
        reported[name] = value
    return reported


def _reported_method(
    request: dict[str, Any], plan: dict[str, Any], started: bool
) -> dict[str, Any]:
    kind = plan["method"]
    reported = {"hyperparameters": _reported(request["hyperparameters"], plan, started)}
    return {"type": kind, kind: reported}


# --- create -----------------------------------------------------------------------------------


def create(call: Call) -> Reply:
    account = data_plane_account(call)
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The request body must be a JSON object.")
    model = _required_str(body, "model")
    training_file = _usable_file(
        call, account, _required_str(body, "training_file"), "training_file"
    )
    validation_id = body.get("validation_file")
    if validation_id is not None:
        _usable_file(call, account, str(validation_id), "validation_file")
    base_model, parent = _base_model(call.db, account, model, call.now)
    method = _method(body)
    hyperparameters = _hyperparameters(body, method)
    suffix = _suffix(body.get("suffix"))
    _check_method(method, base_model, training_file)
    _check_job_quota(call.db, account, call.now)
    job_id = ids.job_id()
    fine_tuned = f"{base_model}.ft-{job_id.removeprefix('ftjob-')}" + (
        f"-{suffix}" if suffix else ""
    )
    plan = _plan(body, method, hyperparameters, training_file, validation_id, fine_tuned)
    request = {
        "model": model,
        "training_file": training_file["id"],
        "validation_file": validation_id,
        "suffix": suffix,
        "hyperparameters": hyperparameters,
        "integrations": body.get("integrations"),
        "parent": parent,
    }
    call.db.execute(
        "INSERT INTO jobs (id, account, created_at, request, base_model, fine_tuned_model, plan,"
        " queued_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            job_id,
            account,
            call.now,
            dumps(request),
            base_model,
            fine_tuned,
            dumps(plan),
            call.now + training.QUEUE_SECONDS,
        ),
    )
    training.add_status(call.db, job_id, call.now, "pending")
    training.add_event(
        call.db, job_id, call.now, "Job enqueued. Waiting for jobs ahead to complete."
    )
    row = job_row(call.db, account, job_id)
    location = (
        f"{call.base_url}/{account}/openai/fine_tuning/jobs/{job_id}?api-version={call.api_version}"
    )
    return Reply(201, job_json(call.db, row, call.now, call.api_version), {"Location": location})


def _required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalidPayload", f"'{key}' is required.", target=key)
    return value


def _usable_file(call: Call, account: str, file_id: str, param: str) -> sqlite3.Row:
    row: sqlite3.Row | None = call.db.execute(
        "SELECT * FROM files WHERE account = ? AND id = ?", (account, file_id)
    ).fetchone()
    if row is None:
        raise ApiError(400, "invalidPayload", f"The file '{file_id}' does not exist.", target=param)
    if row["purpose"] != "fine-tune":
        raise ApiError(
            400, "invalidPayload", f"The file '{file_id}' is not a fine-tune file.", target=param
        )
    if call.now < row["ready_at"]:
        raise ApiError(
            400,
            "unexpectedEntityState",
            f"The file '{file_id}' has not been processed yet; wait until its status is "
            "'processed'.",
            target=param,
        )
    if row["outcome"] == "error":
        raise ApiError(
            400,
            "invalidPayload",
            f"The file '{file_id}' failed validation: {row['status_details']}",
            target=param,
        )
    return row


def _base_model(
    db: sqlite3.Connection, account: str, model: str, now: float
) -> tuple[str, str | None]:
    """(root base model id, parent job id for continuous fine-tuning)."""
    entry = base_model_by_id(model)
    if entry is not None and entry.fine_tunable:
        return entry.model_id, None
    parent = succeeded_job_for_model(db, account, model, now)
    if parent is not None:
        return str(parent["base_model"]), str(parent["id"])
    raise ApiError(
        400,
        "invalidPayload",
        f"The specified base model '{model}' does not support fine-tuning.",
        target="model",
    )


def _method(body: dict[str, Any]) -> dict[str, Any]:
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type") not in ("supervised", "dpo"):
        raise ApiError(
            400, "invalidPayload", "method.type must be 'supervised' or 'dpo'.", target="method"
        )
    return method


def _hyperparameters(body: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    """Top-level hyperparameters, overridden by the method's own (what the SDK sends)."""
    merged: dict[str, Any] = dict(body.get("hyperparameters") or {})
    section = method.get(method["type"]) or {}
    merged.update(section.get("hyperparameters") or {})
    for name, value in merged.items():
        _check_hyperparameter(name, value, method["type"])
    return merged


def _check_hyperparameter(name: str, value: Any, method: str) -> None:
    allowed = (
        set(HYPERPARAMETER_RANGES) if method == "dpo" else set(HYPERPARAMETER_RANGES) - {"beta"}
    )
    allowed.add("l2_multiplier")
    if name not in allowed:
        raise ApiError(400, "invalidPayload", f"Unknown hyperparameter '{name}'.", target=name)
    if value == AUTO or name == "l2_multiplier":
        return
    low, high, kind = HYPERPARAMETER_RANGES[name]
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        valid = valid and float(value).is_integer()
    if not valid or not low <= value <= high:
        raise ApiError(
            400,
            "invalidPayload",
            f"Invalid value for {name}: {value!r}.",
            target=f"hyperparameters.{name}",
        )


def _suffix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_SUFFIX_LENGTH or not SUFFIX.match(value):
        raise ApiError(
            400,
            "invalidPayload",
            f"The suffix must be at most {MAX_SUFFIX_LENGTH} characters of a-z, A-Z, 0-9, '-' "
            "and '_'.",
            target="suffix",
        )
    return value or None


def _check_method(method: dict[str, Any], base_model: str, training_file: sqlite3.Row) -> None:
    data_format = loads(training_file["summary"]).get("format")
    entry = base_model_by_id(base_model)
    if method["type"] == "dpo":
        if entry is None or not entry.dpo:
            raise ApiError(
                400,
                "invalidPayload",
                f"The model '{base_model}' does not support DPO.",
                target="method",
            )
        if data_format != "dpo":
            raise ApiError(
                400,
                "invalidPayload",
                "DPO needs preference data (preferred_output).",
                target="training_file",
            )
    elif data_format not in ("chat", "completion"):
        raise ApiError(
            400,
            "invalidPayload",
            f"Supervised fine-tuning needs chat examples; the training file is '{data_format}'.",
            target="training_file",
        )


def _check_job_quota(db: sqlite3.Connection, account: str, now: float) -> None:
    (total,) = db.execute("SELECT COUNT(*) FROM jobs WHERE account = ?", (account,)).fetchone()
    if total >= MAX_JOBS:
        raise ApiError(
            400, "quotaExceeded", f"The account has reached its limit of {MAX_JOBS} jobs."
        )
    (queued,) = db.execute(
        "SELECT COUNT(*) FROM jobs WHERE account = ? AND planned = 0", (account,)
    ).fetchone()
    if queued >= MAX_QUEUED_JOBS:
        raise ApiError(
            400, "quotaExceeded", f"The account already has {MAX_QUEUED_JOBS} queued jobs."
        )


def _plan(
    body: dict[str, Any],
    method: dict[str, Any],
    hyperparameters: dict[str, Any],
    training_file: sqlite3.Row,
    validation_file: Any,
    fine_tuned_model: str,
) -> dict[str, Any]:
    """Resolve "auto" and work out the size of the run."""
    summary = loads(training_file["summary"])
    examples = max(1, int(summary["examples"]))
    resolved = {
        "n_epochs": 3,
        "batch_size": max(1, min(32, round(examples * 0.002))),
        "learning_rate_multiplier": 1.0,
        "beta": 0.1,
    }
    for name, value in hyperparameters.items():
        if value != AUTO and name in resolved:
            resolved[name] = value
    steps_per_epoch = math.ceil(examples / int(resolved["batch_size"]))
    seed = body.get("seed")
    return {
        **resolved,
        "method": method["type"],
        "seed": int(seed) if isinstance(seed, int) else random.randrange(2**31),
        "examples": examples,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": steps_per_epoch * int(resolved["n_epochs"]),
        "trained_tokens": int(summary["tokens"]) * int(resolved["n_epochs"]),
        "has_validation": validation_file is not None,
        "unsafe_data": bool(summary.get("unsafe_data")),
        "unsafe_model": bool(summary.get("unsafe_model")),
        "fine_tuned_model": fine_tuned_model,
    }


# --- other operations -------------------------------------------------------------------------


def list_jobs(call: Call) -> Reply:
    account = data_plane_account(call)
    limit = call.int_query("limit", 20, 1, 100)
    rows = call.db.execute(
        "SELECT * FROM jobs WHERE account = ? ORDER BY created_at DESC, rowid DESC", (account,)
    )
    items = [job_json(call.db, row, call.now, call.api_version) for row in rows]
    page, has_more = cursor_page(items, call.query.get("after"), limit)
    return Reply(200, {"object": "list", "data": page, "has_more": has_more})


def get_job(call: Call) -> Reply:
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    return Reply(200, job_json(call.db, row, call.now, call.api_version))


def cancel(call: Call) -> Reply:
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    status = training.status_at(call.db, row["id"], call.now)
    if status in training.TERMINAL:
        raise ApiError(
            400, "unexpectedEntityState", f"The job is already {status} and cannot be cancelled."
        )
    training.cut_future(call.db, row["id"], call.now)
    training.add_event(call.db, row["id"], call.now, "Job cancelled.")
    training.add_status(call.db, row["id"], call.now, "cancelled")
    call.db.execute(
        "UPDATE jobs SET planned = 1, outcome = 'cancelled', end_at = ?, slot_until = ?, "
        "finalized = 1 WHERE id = ?",
        (call.now, call.now, row["id"]),
    )
    return Reply(
        200, job_json(call.db, job_row(call.db, account, row["id"]), call.now, call.api_version)
    )


def pause(call: Call) -> Reply:
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    status = training.status_at(call.db, row["id"], call.now)
    if status != "running" or not training.in_training(row, call.now):
        raise ApiError(
            400,
            "unexpectedEntityState",
            f"Only a job that is training can be paused; it is {status}.",
        )
    done = training.steps_done(row, call.now)
    training.cut_future(call.db, row["id"], call.now)
    training.add_event(call.db, row["id"], call.now, f"Job paused at step {done}.")
    training.add_status(call.db, row["id"], call.now, "paused")
    call.db.execute(
        "UPDATE jobs SET done_steps = ?, slot_until = ?, end_at = NULL WHERE id = ?",
        (done, call.now, row["id"]),
    )
    return Reply(
        200, job_json(call.db, job_row(call.db, account, row["id"]), call.now, call.api_version)
    )


def resume(call: Call) -> Reply:
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    status = training.status_at(call.db, row["id"], call.now)
    if status != "paused":
        raise ApiError(
            400, "unexpectedEntityState", f"Only a paused job can be resumed; it is {status}."
        )
    training.add_event(call.db, row["id"], call.now, "Job resume requested.")
    training.add_status(call.db, row["id"], call.now, "resuming")
    # Back into the queue: it runs again when the account's training slot is free.
    call.db.execute(
        "UPDATE jobs SET planned = 0, slot_until = NULL, queued_at = ? WHERE id = ?",
        (call.now + RESUME_SECONDS, row["id"]),
    )
    return Reply(
        200, job_json(call.db, job_row(call.db, account, row["id"]), call.now, call.api_version)
    )


def events(call: Call) -> Reply:
    return _job_records(call, "event", default_limit=20, max_limit=1000)


def checkpoints(call: Call) -> Reply:
    return _job_records(call, "checkpoint", default_limit=10, max_limit=100)


def _job_records(call: Call, kind: str, *, default_limit: int, max_limit: int) -> Reply:
    """A job's events or checkpoints visible at the simulated now, as a cursor page."""
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    limit = call.int_query("limit", default_limit, 1, max_limit)
    items = [loads(r["body"]) for r in training.visible(call.db, row["id"], kind, call.now)]
    page, has_more = cursor_page(items, call.query.get("after"), limit)
    return Reply(200, {"object": "list", "data": page, "has_more": has_more})


def delete(call: Call) -> Reply:
    """FineTuning_Delete: deletes the job and the model it produced (not its deployments)."""
    account = data_plane_account(call)
    row = job_row(call.db, account, call.params["fine-tuning-job-id"])
    status = training.status_at(call.db, row["id"], call.now)
    if status not in training.TERMINAL:
        raise ApiError(
            400, "unexpectedEntityState", f"The job is {status}; cancel it before deleting it."
        )
    deployed = _deployments_using(call.db, str(row["fine_tuned_model"]))
    if deployed:
        raise ApiError(
            409,
            "conflict",
            f"The model of this job is deployed ({', '.join(deployed)}); delete the deployments "
            "first.",
            headers=NOT_CONFLICT,
        )
    call.db.execute("DELETE FROM timeline WHERE job_id = ?", (row["id"],))
    call.db.execute("DELETE FROM jobs WHERE id = ?", (row["id"],))
    return Reply(204, None)


def _deployments_using(db: sqlite3.Connection, fine_tuned_model: str) -> list[str]:
    names = []
    for dep in db.execute("SELECT account, name, body FROM deployments"):
        model_name = (loads(dep["body"]).get("properties", {}).get("model") or {}).get("name", "")
        if model_name == fine_tuned_model or model_name.startswith(f"{fine_tuned_model}:ckpt-"):
            names.append(f"{dep['account']}/{dep['name']}")
    return names


# --- what ARM and the models API need -----------------------------------------------------------


def succeeded_job_for_model(
    db: sqlite3.Connection, account: str, model: str, now: float
) -> sqlite3.Row | None:
    """The job whose fine-tuned model (or one of whose checkpoints) is `model`, if usable now."""
    job_model = model.split(":ckpt-step-")[0]
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM jobs WHERE account = ? AND fine_tuned_model = ? AND outcome = 'succeeded' "
        "AND end_at <= ?",
        (account, job_model, now),
    ).fetchone()
    if row is None or job_model == model:
        return row
    names = [
        loads(c["body"])["fine_tuned_model_checkpoint"]
        for c in training.visible(db, row["id"], "checkpoint", now)
    ]
    return row if model in names else None


def fine_tuned_models(db: sqlite3.Connection, account: str, now: float) -> list[sqlite3.Row]:
    return list(
        db.execute(
            "SELECT * FROM jobs WHERE account = ? AND outcome = 'succeeded' AND end_at <= ? "
            "ORDER BY created_at",
            (account, now),
        )
    )
