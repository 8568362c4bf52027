"""The plan as frozen data: what `apply` executes and the renderers print. JSON round-trips.

The actions during apply are described entirely by `Plan.changes`; apply never looks at the specs.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from reconciler.errors import Diagnostic

PLAN_FORMAT_VERSION = 1
UNKNOWN = "(known after training)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    TRAIN = "train"
    UPLOAD = "upload"
    WAIT = "wait"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def writes(self) -> bool:
        return self not in (Action.WAIT, Action.NOOP)


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.TRAIN: "+",
    Action.UPLOAD: "↑",
    Action.WAIT: "…",
    Action.NOOP: " ",
}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldChange(Frozen):
    path: str
    before: Any = None
    after: Any = None
    forces_replacement: bool = False


class Change(Frozen):
    """One step: its address, what to do, why, the field diffs, and what apply needs to do it."""

    address: str
    kind: str
    account: str | None = None
    action: Action
    reason: str
    fields: tuple[FieldChange, ...] = ()
    depends_on: tuple[str, ...] = ()
    payload: dict[str, Any] = {}
    progress: str | None = None


class TrainingEstimate(Frozen):
    fine_tune: str
    base_model: str
    examples: int | None = None
    billable_tokens: int | None = None
    epochs: int | None = None
    epochs_heuristic: bool = False
    trained_tokens: int | None = None
    cost_usd: float | None = None
    price_source: str | None = None


class HostingEstimate(Frozen):
    deployment: str
    usd_per_hour: float | None = None
    price_source: str | None = None


class DataDiff(Frozen):
    dataset: str
    account: str
    previous_file: str
    added_examples: int
    removed_examples: int
    token_delta: int | None = None
    new_problems: tuple[str, ...] = ()


class Estimates(Frozen):
    """Labelled as estimates wherever they are shown."""

    training: tuple[TrainingEstimate, ...] = ()
    hosting: tuple[HostingEstimate, ...] = ()
    data_diffs: tuple[DataDiff, ...] = ()

    @property
    def training_cost_usd(self) -> float:
        return sum(t.cost_usd or 0.0 for t in self.training)

    @property
    def hosting_usd_per_hour(self) -> float:
        return sum(h.usd_per_hour or 0.0 for h in self.hosting)


class Plan(Frozen):
    format_version: int = PLAN_FORMAT_VERSION
    project: str
    changes: tuple[Change, ...] = ()
    estimates: Estimates = Estimates()
    diagnostics: tuple[Diagnostic, ...] = ()
    live_fingerprint: str = ""

    @property
    def pending(self) -> tuple[Change, ...]:
        """Changes that write something."""
        return tuple(c for c in self.changes if c.action.writes)

    @property
    def waits(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is Action.WAIT)

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def is_converged(self) -> bool:
        return not self.pending and not self.waits

    def counts(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        return counts

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)


def fingerprint(data: Any) -> str:
    """A stable hash of JSON-able data (sorted keys, no whitespace)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
