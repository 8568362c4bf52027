"""Fine-tuning methods (supervised, dpo, reinforcement): the `method` of a job request, its
hyperparameters, how "auto" resolves, and how a job reports them.

`auto` hyperparameters are reported as -1 until the job starts (Azure's examples), then resolved.
"""

from __future__ import annotations

import math
from typing import Any

from reconciler.emulator.catalog import BaseModel
from reconciler.emulator.graders import InvalidGrader, check_grader
from reconciler.emulator.routing import ApiError

METHODS = ("supervised", "dpo", "reinforcement")
AUTO = "auto"
UNRESOLVED = -1
NUMERIC_RANGES: dict[str, tuple[float, float, type]] = {
    "n_epochs": (1, 50, int),
    "batch_size": (1, 256, int),
    "learning_rate_multiplier": (1e-6, 10.0, float),
    "beta": (1e-6, 2.0, float),
    "eval_interval": (1, 10_000, int),
    "eval_samples": (1, 1_000, int),
    "compute_multiplier": (1e-6, 10.0, float),
}
REASONING_EFFORTS = ("default", "low", "medium", "high")
_COMMON = ("n_epochs", "batch_size", "learning_rate_multiplier")
HYPERPARAMETERS = {
    "supervised": _COMMON,
    "dpo": (*_COMMON, "beta"),
    "reinforcement": (
        *_COMMON,
        "reasoning_effort",
        "eval_interval",
        "eval_samples",
        "compute_multiplier",
    ),
}
# Accepted and ignored (older clients send it).
_IGNORED = {"l2_multiplier"}


def method_type(body: dict[str, Any]) -> str:
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type") not in METHODS:
        raise ApiError(
            400,
            "invalidPayload",
            f"method.type must be one of {', '.join(METHODS)}.",
            target="method",
        )
    return str(method["type"])


def check_model_method(entry: BaseModel | None, model: str, kind: str) -> None:
    if entry is None or kind not in entry.methods:
        supported = ", ".join(entry.methods) if entry else "none"
        raise ApiError(
            400,
            "invalidPayload",
            f"The model '{model}' does not support {kind} fine-tuning (it supports: {supported}).",
            target="method",
        )


def method_section(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """`method.<type>` of the request, checked (a reinforcement job's grader above all)."""
    section = (body.get("method") or {}).get(kind) or {}
    if not isinstance(section, dict):
        raise ApiError(400, "invalidPayload", f"method.{kind} must be an object.", target="method")
    if kind == "reinforcement":
        _check_reinforcement(section)
    return section


def _check_reinforcement(section: dict[str, Any]) -> None:
    try:
        check_grader(section.get("grader"))
    except InvalidGrader as invalid:
        raise ApiError(
            400, "invalidPayload", invalid.message, target=f"method.reinforcement.{invalid.param}"
        ) from invalid
    response_format = section.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise ApiError(
            400,
            "invalidPayload",
            "method.reinforcement.response_format must be an object.",
            target="method.reinforcement.response_format",
        )


def hyperparameters(body: dict[str, Any], kind: str, section: dict[str, Any]) -> dict[str, Any]:
    """Top-level hyperparameters, overridden by the method's own (what the SDK sends)."""
    merged: dict[str, Any] = dict(body.get("hyperparameters") or {})
    merged.update(section.get("hyperparameters") or {})
    for name, value in merged.items():
        _check_hyperparameter(name, value, kind)
    return merged


def _check_hyperparameter(name: str, value: Any, kind: str) -> None:
    if name in _IGNORED and kind != "reinforcement":
        return
    if name not in HYPERPARAMETERS[kind]:
        raise ApiError(
            400,
            "invalidPayload",
            f"Unknown hyperparameter '{name}' for {kind} fine-tuning.",
            target=name,
        )
    if value == AUTO:
        return
    if name == "reasoning_effort":
        valid = value in REASONING_EFFORTS
    else:
        low, high, number = NUMERIC_RANGES[name]
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        valid = valid and (number is float or float(value).is_integer()) and low <= value <= high
    if not valid:
        raise ApiError(
            400,
            "invalidPayload",
            f"Invalid value for {name}: {value!r}.",
            target=f"hyperparameters.{name}",
        )


def resolve(hyperparameters: dict[str, Any], examples: int) -> dict[str, Any]:
    """Every hyperparameter's value for the run: given ones, the rest resolved from "auto"."""
    resolved: dict[str, Any] = {
        "n_epochs": 3,
        "batch_size": max(1, min(32, round(examples * 0.002))),
        "learning_rate_multiplier": 1.0,
        "beta": 0.1,
        "reasoning_effort": "medium",
        "eval_interval": 1,
        "eval_samples": 1,
        "compute_multiplier": 1.0,
    }
    for name, value in hyperparameters.items():
        if value != AUTO and name in resolved:
            resolved[name] = value
    resolved["steps_per_epoch"] = math.ceil(examples / int(resolved["batch_size"]))
    return resolved


def reported(requested: dict[str, Any], plan: dict[str, Any], started: bool) -> dict[str, Any]:
    """The top-level `hyperparameters` of a job (and DPO's beta)."""
    names = [*_COMMON, *(("beta",) if plan["method"] == "dpo" else ())]
    return _report(names, requested, plan, started)


def reported_method(request: dict[str, Any], plan: dict[str, Any], started: bool) -> dict[str, Any]:
    kind = plan["method"]
    section: dict[str, Any] = {
        "hyperparameters": _report(HYPERPARAMETERS[kind], request["hyperparameters"], plan, started)
    }
    for key in ("grader", "response_format"):
        if (request.get("method_section") or {}).get(key) is not None:
            section[key] = request["method_section"][key]
    return {"type": kind, kind: section}


def _report(
    names: tuple[str, ...] | list[str],
    requested: dict[str, Any],
    plan: dict[str, Any],
    started: bool,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        value = requested.get(name, AUTO)
        if value == AUTO:
            # reasoning_effort is a choice, never a number: "default" until the run resolves it
            unresolved = "default" if name == "reasoning_effort" else UNRESOLVED
            value = plan[name] if started else unresolved
        values[name] = value
    return values
