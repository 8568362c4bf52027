"""The parts of a FineTuning_Create request, checked against the catalog's rules and the
account's limits, and the size of the run it asks for.

Catalog rules (catalog.py): a model trains with the methods it supports (o4-mini: reinforcement
only); `trainingType` developer only on the models that have a Developer tier; the open models
only with trainingType globalstandard, in AIServices accounts.
"""

from __future__ import annotations

import random
import re
import sqlite3
from typing import Any

from reconciler.emulator import methods
from reconciler.emulator.catalog import (
    FOUNDRY_KIND,
    MAX_JOBS,
    MAX_QUEUED_JOBS,
    MAX_SUFFIX_LENGTH,
    TRAINING_TYPES,
    BaseModel,
)
from reconciler.emulator.routing import ApiError, Call
from reconciler.emulator.store import loads

SUFFIX = re.compile(r"^[a-zA-Z0-9_-]*$")
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
# The training data each method needs (validation.py names the formats).
DATA_FORMATS = {
    "supervised": ("chat", "completion"),
    "dpo": ("dpo",),
    "reinforcement": ("reinforcement",),
}
DATA_NEEDED = {
    "supervised": "chat examples that end with an assistant message",
    "dpo": "preference data (preferred_output)",
    "reinforcement": "chat examples whose last message is the user's (no assistant answer)",
}


def required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalidPayload", f"'{key}' is required.", target=key)
    return value


def usable_file(call: Call, account: str, file_id: str, param: str) -> sqlite3.Row:
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


# --- tier and catalog rules -------------------------------------------------------------------


def training_tier(body: dict[str, Any]) -> str | None:
    """The normalized `trainingType` (None when not given)."""
    value = body.get("trainingType")
    if value is None:
        return None
    tier = TRAINING_TYPES.get(value.lower()) if isinstance(value, str) else None
    if tier is None:
        raise ApiError(
            400,
            "invalid_request_error",
            f"Invalid trainingType {value!r}: use one of standard, globalstandard, datazone or "
            "developer.",
            target="trainingType",
            extra={"param": "trainingType", "type": "invalid_request_error"},
        )
    return tier


def check_tier(entry: BaseModel, tier: str | None, account_kind: str) -> None:
    if entry.open_weights:
        _check_open_model(entry, tier, account_kind)
    if tier == "developer" and not entry.developer_tier:
        raise ApiError(
            400,
            "invalidPayload",
            f"The model '{entry.model_id}' has no Developer training tier.",
            target="trainingType",
        )


def _check_open_model(entry: BaseModel, tier: str | None, account_kind: str) -> None:
    if account_kind != FOUNDRY_KIND:
        raise ApiError(
            400,
            "invalidPayload",
            f"The open model '{entry.model_id}' is fine-tuned only in Azure AI Foundry resources "
            f"(account kind {FOUNDRY_KIND}); this account's kind is {account_kind}.",
            target="model",
        )
    if tier != "globalstandard":
        raise ApiError(
            400,
            "invalidPayload",
            f"The open model '{entry.model_id}' is fine-tuned only with trainingType "
            f"'globalstandard', not {tier or 'the default (standard)'}.",
            target="trainingType",
        )


def check_data(kind: str, training_file: sqlite3.Row) -> None:
    data_format = loads(training_file["summary"]).get("format")
    if data_format not in DATA_FORMATS[kind]:
        raise ApiError(
            400,
            "invalidPayload",
            f"{kind.capitalize()} fine-tuning needs {DATA_NEEDED[kind]}; the training file is "
            f"'{data_format}'.",
            target="training_file",
        )


# --- the other fields -------------------------------------------------------------------------


def metadata(value: Any) -> dict[str, str] | None:
    """OpenAI's metadata: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_METADATA_PAIRS:
        raise _bad_metadata(f"metadata must be an object of at most {MAX_METADATA_PAIRS} pairs.")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _bad_metadata(f"metadata['{key}'] must be a string.")
        if len(key) > MAX_METADATA_KEY:
            raise _bad_metadata(f"metadata keys may have at most {MAX_METADATA_KEY} characters.")
        if len(item) > MAX_METADATA_VALUE:
            raise _bad_metadata(
                f"metadata['{key}'] may have at most {MAX_METADATA_VALUE} characters."
            )
    return dict(value)


def _bad_metadata(message: str) -> ApiError:
    return ApiError(400, "invalidPayload", message, target="metadata")


def suffix(value: Any) -> str | None:
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


def check_job_quota(db: sqlite3.Connection, account: str) -> None:
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


# --- the run ----------------------------------------------------------------------------------


def plan(
    body: dict[str, Any],
    kind: str,
    hyperparameters: dict[str, Any],
    training_file: sqlite3.Row,
    validation_file: Any,
    fine_tuned_model: str,
) -> dict[str, Any]:
    """Resolve "auto" and work out the size of the run."""
    summary = loads(training_file["summary"])
    examples = max(1, int(summary["examples"]))
    resolved = methods.resolve(hyperparameters, examples)
    seed = body.get("seed")
    return {
        **resolved,
        "method": kind,
        "seed": int(seed) if isinstance(seed, int) else random.randrange(2**31),
        "examples": examples,
        "total_steps": resolved["steps_per_epoch"] * int(resolved["n_epochs"]),
        "trained_tokens": int(summary["tokens"]) * int(resolved["n_epochs"]),
        "has_validation": validation_file is not None,
        "unsafe_data": bool(summary.get("unsafe_data")),
        "unsafe_model": bool(summary.get("unsafe_model")),
        "fine_tuned_model": fine_tuned_model,
        "billed_seconds": 0.0,  # training time so far (RFT is billed by the hour)
    }
