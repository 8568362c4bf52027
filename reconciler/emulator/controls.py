"""Test controls under `/_emulator/` (never faulted, never logged, not counted as writes).

GET  requests    the request log: seq, method, path, query, status, operation (swagger
                 operationId), fault, sim_time; with record_bodies also request_body and
                 response_body (parsed JSON or null). `?since=SEQ` returns only newer entries.
GET  operations  every operation the emulator serves: operationId, method, path template, swagger
GET  stats       {"operations": {operationId: count}, "writes": non-GET calls, "requests": total}
GET  clock       {"now": simulated unix time, "iso", "time_scale"}
POST clock       {"advance_seconds": N} moves simulated time forward
GET  faults      the fault configuration; POST faults replaces it (see faults.py)
POST freeze      {"after_writes": N}: requests wait once N writes are done; null thaws
POST reset       wipes all state (accounts included), clears faults, re-anchors the clock
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.emulator.arm import iso
from reconciler.emulator.faults import Faults
from reconciler.emulator.routing import ApiError, Call, Reply
from reconciler.emulator.store import loads


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
