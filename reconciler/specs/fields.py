"""Field policy, declared once on the spec models with `Annotated` markers.

    epochs: Annotated[int | Auto, Identity()] = "auto"
    capacity: Annotated[int, InPlace()] = 1

A marker says what a change of the field means: a new job or run (`Identity`), an update of the
live object in place (`InPlace`), a delete and re-create (`Replaces`), nothing for the result
(`Placement`, `Behaviour`); and whether its value may appear in a plan (`Secret` may not). The
desired-state keys, the plan's "forces replacement" notes and the reference tables of
specs/README.md are all derived from these markers. An unmarked field inherits its parent's.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

Effect = Literal["new", "in-place", "replace", "none"]


@dataclass(frozen=True)
class FieldPolicy:
    in_key: bool
    effect: Effect
    key_as: str | None = None  # the field's name in the key, when not its alias
    placement: bool = False
    secret_free: bool = True
    note: str = ""  # what the reference table adds, e.g. "as the file's sha256"


def Identity(key_as: str | None = None, note: str = "") -> FieldPolicy:
    """Part of the key: a change makes a new resource (a new job, a new run)."""
    return FieldPolicy(in_key=True, effect="new", key_as=key_as, note=note)


def InPlace(key_as: str | None = None, note: str = "") -> FieldPolicy:
    """Part of the key; the live object is updated in place."""
    return FieldPolicy(in_key=True, effect="in-place", key_as=key_as, note=note)


def Replaces(key_as: str | None = None, note: str = "") -> FieldPolicy:
    """Part of the key; a change deletes the live object and creates it again."""
    return FieldPolicy(in_key=True, effect="replace", key_as=key_as, note=note)


def Where(note: str = "") -> FieldPolicy:
    """Says where the resource lives: another value is another resource, keys aside."""
    return FieldPolicy(in_key=False, effect="new", note=note)


def Placement(note: str = "placement") -> FieldPolicy:
    """Where or how the work runs, not what it produces: not in the key."""
    return FieldPolicy(in_key=False, effect="none", placement=True, note=note)


def Behaviour(note: str = "") -> FieldPolicy:
    """How ftops treats the resource (protect, onMissing, cadence): not in the key."""
    return FieldPolicy(in_key=False, effect="none", note=note)


def Secret(note: str = "never written to a plan") -> FieldPolicy:
    """May hold a secret (a SAS URL): never written to a plan, a receipt or a log."""
    return FieldPolicy(in_key=False, effect="none", secret_free=False, note=note)


def own_policy(model: type[BaseModel], name: str) -> FieldPolicy | None:
    info = model.model_fields[name]
    return next((m for m in info.metadata if isinstance(m, FieldPolicy)), None)


def submodels(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models a field's annotation can hold (through unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            yield from submodels(arg)


def _alias(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].alias or name


def field_named(model: type[BaseModel], alias: str) -> str | None:
    return next((n for n in model.model_fields if _alias(model, n) == alias), None)


def policy_at(model: type[BaseModel], path: str) -> FieldPolicy | None:
    """The policy of a dotted path of aliases (`sku.capacity`), inherited from the nearest
    marked parent; None where nothing on the way is marked."""
    found: FieldPolicy | None = None
    models = [model]
    for alias in path.split("."):
        matches = [(m, n) for m in models if (n := field_named(m, alias))]
        if not matches:
            break
        owner, name = matches[0]
        found = own_policy(owner, name) or found
        models = list(submodels(owner.model_fields[name].annotation))
    return found


def key_view(spec: BaseModel, inherited: FieldPolicy | None = None) -> dict[str, Any]:
    """The fields that enter the key, by their key names (alias unless `key_as`), nested models
    narrowed the same way. Unset fields are kept at the top (`seed: null`) and left out of nested
    models, as the keys have always been computed: a key that moves retrains everything."""
    view: dict[str, Any] = {}
    for name in type(spec).model_fields:
        policy = own_policy(type(spec), name) or inherited
        value = getattr(spec, name)
        if policy is None or not policy.in_key or (value is None and inherited is not None):
            continue
        key = policy.key_as or _alias(type(spec), name)
        view[key] = key_view(value, policy) if isinstance(value, BaseModel) else value
    return view


def out_of_key(model: type[BaseModel]) -> frozenset[str]:
    """Aliases of a model's fields that are marked as outside its key."""
    return frozenset(
        _alias(model, n)
        for n in model.model_fields
        if (p := own_policy(model, n)) is not None and not p.in_key
    )
