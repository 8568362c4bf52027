"""Data plane: models (list, get) and chat completions on deployed models."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconciler.emulator import ids, jobs
from reconciler.emulator.catalog import base_model_by_id, models_for_kind
from reconciler.emulator.routing import ApiError, Call, Reply
from reconciler.emulator.store import loads
from reconciler.emulator.world import account_kind, data_plane_account


def _fine_tuned_model_json(row: sqlite3.Row) -> dict[str, Any]:
    base = base_model_by_id(str(row["base_model"]))
    deprecation = base.as_data_plane_model()["deprecation"] if base else {"inference": 0}
    return {
        "object": "model",
        "id": row["fine_tuned_model"],
        "created_at": int(row["end_at"]),
        "status": "succeeded",
        "model": row["base_model"],
        "fine_tune": row["id"],
        "capabilities": {
            "fine_tune": True,  # continuous fine-tuning starts from a fine-tuned model
            "inference": True,
            "completion": False,
            "chat_completion": True,
            "embeddings": False,
        },
        "lifecycle_status": "generally-available",
        "deprecation": {"inference": deprecation["inference"]},  # type: ignore[index]
    }


def _all_models(call: Call, account: str) -> list[dict[str, Any]]:
    """The catalog for the account's kind (open models in AIServices accounts), then its own."""
    models = [m.as_data_plane_model() for m in models_for_kind(account_kind(call.db, account))]
    models += [
        _fine_tuned_model_json(r) for r in jobs.fine_tuned_models(call.db, account, call.now)
    ]
    return models


def list_models(call: Call) -> Reply:
    account = data_plane_account(call)
    return Reply(200, {"object": "list", "data": _all_models(call, account)})


def get_model(call: Call) -> Reply:
    account = data_plane_account(call)
    wanted = call.params["model-id"]
    for model in _all_models(call, account):
        if model["id"] == wanted:
            return Reply(200, model)
    raise ApiError(404, "notFound", f"The model '{wanted}' does not exist.")


def chat_completions(call: Call) -> Reply:
    """A canned answer from a deployed model; records the traffic that keeps it alive."""
    account = data_plane_account(call)
    body = call.json()
    # v1's /chat/completions names the deployment in `model`.
    name = call.params.get("deployment-id") or str(
        body.get("model") if isinstance(body, dict) else ""
    )
    row = call.db.execute(
        "SELECT * FROM deployments WHERE account = ? AND name = ?", (account, name)
    ).fetchone()
    if row is None or row["state"] != "Succeeded":
        raise ApiError(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment "
            "within the last 5 minutes, please wait a moment and try again.",
        )
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "invalidPayload", "'messages' is a required property.", target="messages"
        )
    call.db.execute(
        "UPDATE deployments SET last_used_at = ? WHERE account = ? AND name = ?",
        (call.now, account, name),
    )
    model = loads(row["body"])["properties"]["model"]["name"]
    answer = completion(model, name, messages, call.now)
    if body.get("stream") is True:
        usage = (body.get("stream_options") or {}).get("include_usage") is True
        return Reply(200, _event_stream(answer, usage), media_type="text/event-stream")
    return Reply(200, answer)


def _event_stream(completion: dict[str, Any], include_usage: bool) -> bytes:
    """`stream: true`: server-sent events of `chat.completion.chunk`s, as Azure sends them: the
    role, the content in pieces, the finish reason, the usage when asked, then `[DONE]`."""
    text = completion["choices"][0]["message"]["content"]
    pieces = [text[i : i + 16] for i in range(0, len(text), 16)]
    deltas = [{"role": "assistant", "content": ""}, *({"content": p} for p in pieces), {}]
    base = {k: completion[k] for k in ("id", "created", "model")} | {
        "object": "chat.completion.chunk"
    }
    chunks = [
        base | {"choices": [{"index": 0, "delta": d, "finish_reason": None if d else "stop"}]}
        for d in deltas
    ]
    if include_usage:
        chunks.append(base | {"choices": [], "usage": completion["usage"]})
    events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks]
    return ("".join(events) + "data: [DONE]\n\n").encode()


def completion(model: str, deployment: str, messages: list[Any], now: float) -> dict[str, Any]:
    last = messages[-1].get("content", "") if isinstance(messages[-1], dict) else ""
    text = f"[ftops emulator: deployment '{deployment}'] {str(last)[:200]}"
    prompt_tokens = sum(len(str(m)) // 4 + 1 for m in messages)
    completion_tokens = len(text) // 4 + 1
    return {
        "id": ids.chat_id(),
        "object": "chat.completion",
        "created": int(now),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
