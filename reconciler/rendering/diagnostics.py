"""Diagnostics as `file:line:col: CODE severity: message` lines with hints, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable

from reconciler.errors import Diagnostic


def diagnostics_text(diagnostics: Iterable[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        where = f"{d.location}: " if d.location else ""
        lines.append(f"{where}{d.code} {d.severity.value}: {d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def diagnostics_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.as_json() for d in diagnostics], indent=2)


def diagnostics_summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = sum(1 for d in diagnostics if d.severity.value == "warning")
    return f"Found {plural(errors, 'error')} and {plural(warnings, 'warning')}."


def plural(n: int, word: str) -> str:
    """`1 change`, `3 changes`: what every summary line says."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")
