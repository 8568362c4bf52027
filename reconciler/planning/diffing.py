"""The generic field diff: two views of a resource (live and desired, keyed by spec paths) in,
one `FieldDiff` per differing leaf out, with the field policy of the spec model applied.

The views are small trees of JSON values, so a walk over them does what a general differ
would (deepdiff imported pandas and numpy: most of a plan's start-up)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from pydantic import BaseModel

from reconciler.plans import FieldDiff, Why
from reconciler.specs.fields import policy_at


def field_diffs(
    model: type[BaseModel], live: Mapping[str, Any], want: Mapping[str, Any], why: Why
) -> tuple[FieldDiff, ...]:
    """`live` → `want`, field by field, in `want`'s order; `forces_replacement` from the
    markers on `model` (`Replaces`)."""
    paths = sorted(set(differing(live, want)), key=_order(want))
    return tuple(_field(model, path, live, want, why) for path in paths)


_ABSENT = object()


def differing(live: Any, want: Any, prefix: str = "") -> Iterator[str]:
    """The dotted paths of the leaves that differ; a list is one leaf, compared as a multiset,
    and 1 and 1.0 differ (the type is part of the value, as it is on the wire)."""
    if isinstance(live, Mapping) and isinstance(want, Mapping):
        for key in dict.fromkeys([*want, *live]):
            yield from differing(live.get(key, _ABSENT), want.get(key, _ABSENT), f"{prefix}{key}.")
    elif not _same(live, want):
        yield prefix.removesuffix(".")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return Counter(map(_canonical, a)) == Counter(map(_canonical, b))
    return type(a) is type(b) and a == b


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


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
