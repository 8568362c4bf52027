"""Plans, diagnostics and status as text, JSON and markdown. Formats only; decides nothing.

The names load with their module on first use: `validate` prints diagnostics without importing
the plan and status renderers (and the plan model under them)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.rendering.diagnostics import (
        diagnostics_json,
        diagnostics_summary,
        diagnostics_text,
        plural,
    )
    from reconciler.rendering.plans import NO_CHANGES, plan_json, plan_markdown, plan_text
    from reconciler.rendering.reasons import reason_text
    from reconciler.rendering.status import status_json, status_rows, status_text

_MODULE_OF = {
    "diagnostics_json": "diagnostics",
    "diagnostics_summary": "diagnostics",
    "diagnostics_text": "diagnostics",
    "plural": "diagnostics",
    "NO_CHANGES": "plans",
    "plan_json": "plans",
    "plan_markdown": "plans",
    "plan_text": "plans",
    "reason_text": "reasons",
    "status_json": "status",
    "status_rows": "status",
    "status_text": "status",
}

__all__ = [
    "NO_CHANGES",
    "diagnostics_json",
    "diagnostics_summary",
    "diagnostics_text",
    "plan_json",
    "plan_markdown",
    "plan_text",
    "plural",
    "reason_text",
    "status_json",
    "status_rows",
    "status_text",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
