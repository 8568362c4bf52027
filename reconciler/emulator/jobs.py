"""Data plane: fine-tuning jobs (create, list, get, cancel, pause, resume, events, checkpoints,
delete), and what ARM needs to know about the models they produce."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from reconciler.emulator import ids, job_requests, methods, training
from reconciler.emulator.catalog import base_model_by_id
from reconciler.emulator.routing import PREVIEW_FEATURES, ApiError, Call, Reply
from reconciler.emulator.store import dumps, loads
from reconciler.emulator.world import (
    account_kind,
    cursor_page,
    data_plane_account,
    data_plane_url,
)

NOT_CONFLICT = {"x-should-retry": "false"}
RESUME_SECONDS = 30.0
METADATA_FILTER = re.compile(r"^metadata\[(.+)\]$")


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
    started = bool(row["planned"]) and status != "pending"
    body: dict[str, Any] = {
        "object": "fine_tuning.job",
        "id": row["id"],
        "created_at": int(row["created_at"]),
        "status": status,
        "model": request["model"],
        "training_file": request["training_file"],
        "result_files": [],
        "hyperparameters": methods.reported(request["hyperparameters"], plan, started),
        "seed": plan["seed"],
        "metadata": request.get("metadata"),
    }
    for key in ("validation_file", "suffix", "trainingType"):
        if request.get(key) is not None:
            body[key] = request[key]
    _add_outcome(body, row, status, plan)
    if status in ("running", "resuming") and row["end_at"] is not None:
        body["estimated_finish"] = int(row["end_at"])
    if api_version in PREVIEW_FEATURES:
        body["method"] = methods.reported_method(request, plan, started)
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


# --- create -----------------------------------------------------------------------------------


def create(call: Call) -> Reply:
    account = data_plane_account(call)
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The request body must be a JSON object.")
    model = job_requests.required_str(body, "model")
    training_file = job_requests.usable_file(
        call, account, job_requests.required_str(body, "training_file"), "training_file"
    )
    validation_id = body.get("validation_file")
    if validation_id is not None:
        job_requests.usable_file(call, account, str(validation_id), "validation_file")
    base_model, parent = _base_model(call.db, account, model, call.now)
    request, kind = _request(call, account, body, base_model, training_file)
    request |= {"model": model, "parent": parent}
    job_requests.check_job_quota(call.db, account)
    job_id = ids.job_id()
    fine_tuned = f"{base_model}.ft-{job_id.removeprefix('ftjob-')}" + (
        f"-{request['suffix']}" if request["suffix"] else ""
    )
    plan = job_requests.plan(
        body, kind, request["hyperparameters"], training_file, validation_id, fine_tuned
    )
    _insert(call, account, job_id, request, base_model, fine_tuned, plan)
    row = job_row(call.db, account, job_id)
    location = data_plane_url(call, account, f"/fine_tuning/jobs/{job_id}")
    return Reply(201, job_json(call.db, row, call.now, call.api_version), {"Location": location})


def _request(
    call: Call,
    account: str,
    body: dict[str, Any],
    base_model: str,
    training_file: sqlite3.Row,
) -> tuple[dict[str, Any], str]:
    """The checked request as stored (its model and parent added by the caller), and its method."""
    entry = base_model_by_id(base_model)
    kind = methods.method_type(body)
    tier = job_requests.training_tier(body)
    if entry is not None:
        job_requests.check_tier(entry, tier, account_kind(call.db, account))
    methods.check_model_method(entry, base_model, kind)
    section = methods.method_section(body, kind)
    hyperparameters = methods.hyperparameters(body, kind, section)
    request = {
        "training_file": training_file["id"],
        "validation_file": body.get("validation_file"),
        "suffix": job_requests.suffix(body.get("suffix")),
        "hyperparameters": hyperparameters,
        "method_section": {k: v for k, v in section.items() if k != "hyperparameters"},
        "integrations": body.get("integrations"),
        "metadata": job_requests.metadata(body.get("metadata")),
        "trainingType": body.get("trainingType"),
        "tier": tier,
    }
    job_requests.check_data(kind, training_file)
    return request, kind


def _insert(
    call: Call,
    account: str,
    job_id: str,
    request: dict[str, Any],
    base_model: str,
    fine_tuned: str,
    plan: dict[str, Any],
) -> None:
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


# --- other operations -------------------------------------------------------------------------


def list_jobs(call: Call) -> Reply:
    """Newest first; `metadata[k]=v` filters (several AND together; `metadata=null`: none)."""
    account = data_plane_account(call)
    limit = call.int_query("limit", 20, 1, 100)
    rows = call.db.execute(
        "SELECT * FROM jobs WHERE account = ? ORDER BY created_at DESC, rowid DESC", (account,)
    )
    wanted = _metadata_filter(call.query)
    items = [
        job_json(call.db, row, call.now, call.api_version)
        for row in rows
        if _metadata_matches(loads(row["request"]).get("metadata"), wanted)
    ]
    page, has_more = cursor_page(items, call.query.get("after"), limit)
    return Reply(200, {"object": "list", "data": page, "has_more": has_more})


def _metadata_filter(query: dict[str, str]) -> dict[str, str] | None:
    """The wanted metadata pairs; None for `metadata=null` (jobs without metadata)."""
    if query.get("metadata") == "null":
        return None
    pairs = {}
    for key, value in query.items():
        found = METADATA_FILTER.match(key)
        if found:
            pairs[found.group(1)] = value
    return pairs


def _metadata_matches(metadata: dict[str, str] | None, wanted: dict[str, str] | None) -> bool:
    if wanted is None:
        return not metadata
    return all((metadata or {}).get(key) == value for key, value in wanted.items())


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
    check_pausable(call.db, row, call.now)
    training.pause_job(call.db, row, call.now, "user")
    return Reply(
        200, job_json(call.db, job_row(call.db, account, row["id"]), call.now, call.api_version)
    )


def check_pausable(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
    status = training.status_at(db, row["id"], now)
    if status != "running" or not training.in_training(row, now):
        raise ApiError(
            400,
            "unexpectedEntityState",
            f"Only a job that is training can be paused; it is {status}.",
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
    """The job whose fine-tuned model (or one of whose checkpoints) is `model`, if usable now:
    the final model once the job succeeded; a checkpoint once it is listed, also while the job
    trains on or is paused (Azure: pausing leaves a deployable checkpoint)."""
    job_model = model.split(":ckpt-step-")[0]
    if job_model == model:
        found: sqlite3.Row | None = db.execute(
            "SELECT * FROM jobs WHERE account = ? AND fine_tuned_model = ? "
            "AND outcome = 'succeeded' AND end_at <= ?",
            (account, job_model, now),
        ).fetchone()
        return found
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM jobs WHERE account = ? AND fine_tuned_model = ?", (account, job_model)
    ).fetchone()
    if row is None:
        return None
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
