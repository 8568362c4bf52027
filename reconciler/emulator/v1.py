"""The v1 API's wire shapes.

The handlers answer in the versioned API's shapes (its swaggers, Azure's names). On the v1 routes
(`/{account}/openai/v1/...`) `shaped` reshapes a successful reply where the official v1 spec
(`ai/data-plane/OpenAI.v1/azure-v1-v1-generated.json`, OpenAPI 3.0, OpenAI's shapes) describes it
differently. It only adds and renames: whatever the versioned answer carries beyond the v1 spec
stays (the spec allows additional properties, and the reconciler reads some of them, e.g. a job's
`suffix` and `trainingType`, a model's `capabilities`). Errors pass unchanged.

What v1 changes, per operation (see reconciler/emulator/README.md, "Operations and contracts"):

* every success is 200 (the versioned swaggers answer 201 for a job create and a file upload);
* a job carries every field the spec requires, null when unset (`error`, `fine_tuned_model`,
  `finished_at`, `trained_tokens`, `validation_file`, `metadata`), `organization_id` (OpenAI's
  spelling; unused on Azure, an empty string here), `user_provided_suffix` next to `suffix`, and
  an error's `param`;
* a model carries OpenAI's `created` and `owned_by` next to Azure's fields;
* a file list carries `first_id` / `last_id`;
* an event's level is `info`, `warn` or `error` (the versioned swaggers spell `warning`);
* a chat completion's choices carry `logprobs` and their message `refusal` (null).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.emulator.routing import Call, Handler, Reply

# The versioned swaggers answer 201 Created for these; the v1 spec answers 200 for every success.
CREATED_IS_OK = frozenset({"FineTuning_Create", "Files_Upload"})
# Unused on Azure ("compatibility for OpenAI only", the versioned swaggers' organisation_id), but a
# required string of the v1 job.
ORGANIZATION_ID = ""
BASE_MODEL_OWNER = "system"
_JOB_NULLABLE = ("error", "fine_tuned_model", "finished_at", "trained_tokens", "validation_file")
_EVENT_LEVELS = {"warning": "warn"}

Shaper = Callable[[Any, Call], Any]


def shaped(operation: str, handler: Handler) -> Handler:
    """`handler` as the v1 route of `operation` answers."""

    def handle(call: Call) -> Reply:
        return shape(operation, handler(call), call)

    return handle


def shape(operation: str, reply: Reply, call: Call) -> Reply:
    if not 200 <= reply.status < 300:
        return reply
    status = 200 if operation in CREATED_IS_OK else reply.status
    body = reply.body
    shaper = _SHAPERS.get(operation)
    if shaper is not None and isinstance(body, dict):
        body = shaper(body, call)
    return Reply(status, body, dict(reply.headers), reply.media_type)


# --- the shapes -------------------------------------------------------------------------------


def job(body: dict[str, Any], call: Call | None = None) -> dict[str, Any]:
    out = dict(body)
    for key in _JOB_NULLABLE:
        out.setdefault(key, None)
    if isinstance(out["error"], dict):
        out["error"] = {"param": None, **out["error"]}
    out.setdefault("metadata", None)
    out["organization_id"] = ORGANIZATION_ID
    if out.get("suffix") is not None:
        out["user_provided_suffix"] = out["suffix"]
    return out


def _jobs(body: dict[str, Any], call: Call) -> dict[str, Any]:
    return {**body, "data": [job(item) for item in body.get("data", [])]}


def _events(body: dict[str, Any], call: Call) -> dict[str, Any]:
    data = [
        {**event, "level": _EVENT_LEVELS.get(event.get("level"), event.get("level"))}
        for event in body.get("data", [])
    ]
    return {**body, "data": data}


def _files(body: dict[str, Any], call: Call) -> dict[str, Any]:
    data = body.get("data", [])
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {**body, "first_id": first, "last_id": last}


def model(body: dict[str, Any], call: Call) -> dict[str, Any]:
    """OpenAI's `created` and `owned_by`: the system for a base model, the account (the resource
    that trained it) for a fine-tuned one."""
    owner = call.params.get("accountName", "") if body.get("fine_tune") else BASE_MODEL_OWNER
    return {**body, "created": body.get("created_at", 0), "owned_by": owner}


def _models(body: dict[str, Any], call: Call) -> dict[str, Any]:
    return {**body, "data": [model(item, call) for item in body.get("data", [])]}


def _chat(body: dict[str, Any], call: Call) -> dict[str, Any]:
    choices = [
        {
            "logprobs": None,
            **choice,
            "message": {"refusal": None, **choice.get("message", {})},
        }
        for choice in body.get("choices", [])
    ]
    return {**body, "choices": choices}


_SHAPERS: dict[str, Shaper] = {
    "FineTuning_Create": job,
    "FineTuning_Get": job,
    "FineTuning_Cancel": job,
    "FineTuning_Pause": job,
    "FineTuning_Resume": job,
    "FineTuning_List": _jobs,
    "FineTuning_GetEvents": _events,
    "Files_List": _files,
    "Models_List": _models,
    "Models_Get": model,
    "ChatCompletions_Create": _chat,
}
