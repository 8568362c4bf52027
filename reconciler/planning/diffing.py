"""The generic field diff: two views of a resource (live and desired, keyed by spec paths) in,
one `FieldDiff` per differing leaf out, with the field policy of the spec model applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff
from pydantic import BaseModel

from reconciler.plans import FieldDiff, Why
from reconciler.specs.fields import policy_at


def field_diffs(
    model: type[BaseModel], live: Mapping[str, Any], want: Mapping[str, Any], why: Why
) -> tuple[FieldDiff, ...]:
    """`live` → `want`, field by field, in `want`'s order; `forces_replacement` from the
    markers on `model` (`Replaces`)."""
    diff = DeepDiff(dict(live), dict(want), view="tree", ignore_order=True)
    paths = sorted(
        {
            ".".join(str(p) for p in leaf.path(output_format="list"))
            for kind in diff
            for leaf in diff[kind]
        },
        key=_order(want),
    )
    return tuple(_field(model, path, live, want, why) for path in paths)


def _order(want: Mapping[str, Any]) -> Any:
    keys = list(want)
    return lambda path: keys.index(path.split(".")[0]) if path.split(".")[0] in keys else len(keys)


def _field(
    model: type[BaseModel], path: str, live: Mapping[str, Any], want: Mapping[str, Any], why: Why
) -> FieldDiff:
    policy = policy_at(model, path)
    return FieldDiff(
        path=path,
        before=_get(live, path),
        after=_get(want, path),
        why=why,
        forces_replacement=policy is not None and policy.effect == "replace",
    )


def _get(view: Mapping[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
