"""A reason in words: its class, then every field that differs and which side moved it.

spec changed: method.hyperparameters.epochs: 2 → 3, seed: 42 → 7
changed outside ftops: sku.capacity 5 (live) → 1 (spec)
model: upstream fine-tune travel-v1 retrains (known after training)
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.plans import Estimates, FieldDiff, Reason, Why

_LABELS = {
    Why.NEW: "new",
    Why.SPEC_CHANGED: "spec changed",
    Why.UPSTREAM_CHANGED: "upstream changed",
    Why.DRIFTED: "changed outside ftops",
    Why.MISSING: "missing",
    Why.RETRY: "retrying",
    Why.RESUME: "resume",
    Why.IN_PROGRESS: "in progress",
    Why.UP_TO_DATE: "up to date",
    Why.FAILED: "failed",
    Why.NOT_OWNED: "not owned by this project",
    Why.PRUNE: "prune",
    Why.PAUSED: "paused",
    Why.EXPIRED: "expired",
}
_GROUPS = (Why.SPEC_CHANGED, Why.UPSTREAM_CHANGED, Why.DRIFTED)


def reason_text(reason: Reason, estimates: Estimates | None = None) -> str:
    if reason.why is Why.IN_PROGRESS and reason.detail:
        return reason.detail
    if not reason.fields:
        label = _LABELS[reason.why]
        return f"{label}: {reason.detail}" if reason.detail else label
    parts = []
    for why in _GROUPS:
        fields = [f for f in reason.fields if f.why is why]
        if fields:
            parts.append(_group(why, fields, estimates))
    return "; ".join(parts) + (f" ({reason.detail})" if reason.detail else "")


def _group(why: Why, fields: list[FieldDiff], estimates: Estimates | None) -> str:
    if why is Why.UPSTREAM_CHANGED:
        return ", ".join(field_text(f, estimates) for f in fields)
    text = ", ".join(field_text(f, estimates) for f in fields)
    replaced = [f.path for f in fields if f.forces_replacement]
    suffix = f" ({', '.join(replaced)} forces replacement)" if replaced else ""
    return f"{_LABELS[why]}: {text}{suffix}"


def field_text(f: FieldDiff, estimates: Estimates | None = None) -> str:
    """One field's change: `seed: 42 → 7`, `sku.capacity 5 (live) → 1 (spec)`."""
    if f.why is Why.UPSTREAM_CHANGED:
        after = value_text(f.after)
        return f"{f.path}: {f.note} " + (after if after.startswith("(") else f"({after})")
    if f.dataset is not None:
        shas = f"sha {_sha(f.before)} → {_sha(f.after)}"
        return f"{f.path}: {f.dataset} ({shas}{_examples(f, estimates)})"
    if f.why is Why.DRIFTED:
        return f"{f.path} {value_text(f.before)} (live) → {value_text(f.after)} (spec)"
    return f"{f.path}: {value_text(f.before)} → {value_text(f.after)}"


def _sha(value: Any) -> str:
    text = str(value) if value is not None else "none"
    return text[:8]


def _examples(f: FieldDiff, estimates: Estimates | None) -> str:
    diff = estimates.data_diff(f.dataset) if estimates and f.dataset else None
    if diff is None:
        return ""
    return f", +{diff.added_examples} / −{diff.removed_examples} examples"


def value_text(value: Any) -> str:
    if value is None:
        return "unset"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 48 else text[:45] + "…"
