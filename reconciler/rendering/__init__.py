"""Plans, diagnostics and status as text, JSON and markdown. Formats only; decides nothing."""

from reconciler.rendering.diagnostics import (
    diagnostics_json,
    diagnostics_summary,
    diagnostics_text,
    plural,
)
from reconciler.rendering.plans import NO_CHANGES, plan_json, plan_markdown, plan_text
from reconciler.rendering.reasons import reason_text
from reconciler.rendering.status import status_json, status_rows, status_text

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
