"""Test controls under `/_emulator/` (never faulted, never logged, not counted as writes).

GET  requests    the request log: seq, method, path, query, status, operation (swagger
                 operationId), fault, sim_time; with record_bodies also request_body and
                 response_body (parsed JSON or null). `?since=SEQ` returns only newer entries.
GET  operations  every operation the emulator serves: operationId, method, path template, swagger
GET  stats       {"operations": {operationId: count}, "writes": non-GET calls, "requests": total,
                 "uploads": {"started", "parts", "part_bytes", "completed", "cancelled"}}
GET  clock       {"now": simulated unix time, "iso", "time_scale"}
POST clock       {"advance_seconds": N} moves simulated time forward
GET  faults      the fault configuration; POST faults replaces it (see faults.py)
POST freeze      {"after_writes": N}: requests wait once N writes are done; null thaws
GET  settings    {"rft_cost_cap_usd": N}; POST settings changes it (persisted, like the clock)
POST jobs/{id}/preempt  pauses a running Developer-tier job as Azure does when it reclaims the
                 capacity; 400 if the job is not Developer tier or not training
POST reset       wipes all state (accounts included), clears faults, re-anchors the clock
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.emulator import azureml, azureml_runs, jobs, training
from reconciler.emulator.arm import iso
from reconciler.emulator.faults import Faults
from reconciler.emulator.routing import PREVIEW, ApiError, Call, Reply
from reconciler.emulator.store import loads

UPLOAD_COUNTERS = ("started", "parts", "part_bytes", "completed", "cancelled")


def requests(call: Call) -> Reply:
    since = call.int_query("since", 0, 0, 2**62)
    rows = call.db.execute("SELECT * FROM requests WHERE seq > ? ORDER BY seq", (since,))
    bodies = bool(call.emulator.record_bodies)
    return Reply(200, {"requests": [_logged(row, bodies) for row in rows]})


def _logged(row: Any, bodies: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": row["seq"],
        "sim_time": row["sim_time"],
        "method": row["method"],
        "path": row["path"],
        "query": loads(row["query"]),
        "status": row["status"],
        "operation": row["operation"],
        # Models_List is an operationId of both swaggers: the plane tells them apart.
        "plane": "arm" if str(row["path"]).lower().startswith("/subscriptions/") else "data",
        "fault": row["fault"],
    }
    if bodies:
        entry["request_body"] = loads(row["request_body"])
        entry["response_body"] = loads(row["response_body"])
    return entry


def operations(call: Call) -> Reply:
    routes = [r.describe() for r in call.emulator.router.routes if r.plane != "control"]
    return Reply(200, {"operations": routes})


def stats(call: Call) -> Reply:
    counters = {row["name"]: row["n"] for row in call.db.execute("SELECT * FROM counters")}
    prefix = "operation:"
    operations = {
        name.removeprefix(prefix): n
        for name, n in sorted(counters.items())
        if name.startswith(prefix)
    }
    return Reply(
        200,
        {
            "operations": operations,
            "writes": counters.get("writes", 0),
            "requests": counters.get("requests", 0),
            # What the upload handlers stored (a faulted or refused request counts nothing).
            "uploads": {name: counters.get(f"uploads:{name}", 0) for name in UPLOAD_COUNTERS},
        },
    )


def get_clock(call: Call) -> Reply:
    now = call.emulator.clock.now()
    return Reply(200, {"now": now, "iso": iso(now), "time_scale": call.emulator.clock.time_scale})


def advance_clock(call: Call) -> Reply:
    body = _json(call)
    seconds = body.get("advance_seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise ApiError(400, "invalidPayload", "'advance_seconds' must be a non-negative number.")
    call.emulator.clock.advance(float(seconds))
    return get_clock(call)


def get_faults(call: Call) -> Reply:
    return Reply(200, call.emulator.faults.as_json())


def set_faults(call: Call) -> Reply:
    try:
        call.emulator.faults = Faults.from_json(_json(call))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalidPayload", str(exc)) from exc
    return get_faults(call)


def set_freeze(call: Call) -> Reply:
    """`{"after_writes": N}`: once N writes are done, every further request waits (unanswered)
    until `{"after_writes": null}`. A crash test kills its client while it waits, so that exactly
    N writes happened."""
    after = _json(call).get("after_writes")
    if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        raise ApiError(400, "invalidPayload", "after_writes must be a whole number or null.")
    call.emulator.admitted_writes = call.emulator.writes()
    call.emulator.freeze_after = after
    return Reply(200, {"after_writes": after})


def get_settings(call: Call) -> Reply:
    return Reply(200, {"rft_cost_cap_usd": training.cost_cap_usd(call.db)})


def set_settings(call: Call) -> Reply:
    body = _json(call)
    unknown = set(body) - {"rft_cost_cap_usd"}
    if unknown:
        raise ApiError(400, "invalidPayload", f"Unknown settings: {', '.join(sorted(unknown))}.")
    if "rft_cost_cap_usd" in body:
        cap = body["rft_cost_cap_usd"]
        if not isinstance(cap, int | float) or isinstance(cap, bool) or cap <= 0:
            raise ApiError(400, "invalidPayload", "'rft_cost_cap_usd' must be a positive number.")
        training.set_cost_cap_usd(call.db, float(cap), call.now)
    return get_settings(call)


def preempt(call: Call) -> Reply:
    """Developer-tier capacity reclaimed: Azure pauses the job (resume continues it)."""
    job_id = call.params["fine-tuning-job-id"]
    row = call.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise ApiError(404, "notFound", f"Fine-tuning job '{job_id}' not found.")
    if loads(row["request"]).get("tier") != "developer":
        raise ApiError(
            400,
            "unexpectedEntityState",
            "Only a Developer-tier job (trainingType developer) is preempted.",
        )
    jobs.check_pausable(call.db, row, call.now)
    training.pause_job(call.db, row, call.now, "preempted")
    fresh = jobs.job_row(call.db, row["account"], job_id)
    return Reply(200, jobs.job_json(call.db, fresh, call.now, PREVIEW))


def fail_ml_job(call: Call) -> Reply:
    """An Azure ML command job fails now (its processes are killed), as a node lost mid-run
    would fail it; `apply --retry-failed` submits the recipe again as a new job."""
    name = call.params["id"]
    row = call.db.execute(
        "SELECT scope FROM ml_resources WHERE kind = 'job' AND name = ?", (name,)
    ).fetchone()
    if row is None:
        raise ApiError(404, "notFound", f"Azure ML job '{name}' not found.")
    job = azureml.get_resource(call.db, row["scope"], "job", name)
    assert job is not None
    azureml_runs.cancel(call.db, row["scope"], name)
    job["properties"]["status"] = "Failed"
    extra = job["properties"].setdefault("properties", {})
    extra["ftops.emulator.error"] = "the node was lost (failed by /_emulator/mljobs/{id}/fail)"
    azureml.put_resource(call.db, row["scope"], "job", name, job, call.now)
    return Reply(200, {"failed": name})


def reset(call: Call) -> Reply:
    call.emulator.reset()
    return Reply(200, {"reset": True})


def _json(call: Call) -> dict[str, Any]:
    try:
        body = json.loads(call.body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "invalidPayload", "The body must be JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The body must be a JSON object.")
    return body
