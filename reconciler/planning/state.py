"""The state the planning steps share while a plan is built."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.desired import DesiredState
from reconciler.errors import Diagnostic
from reconciler.live import AccountLive, LiveJob, LiveState
from reconciler.plans import Change, PlanOptions


@dataclass
class Planning:
    """The plan being built: what each step has decided so far."""

    desired: DesiredState
    live: LiveState
    options: PlanOptions
    changes: list[Change] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # fine-tune name → its model id when it exists now, None while it is still to come
    models: dict[str, str | None] = field(default_factory=dict)
    jobs: dict[str, LiveJob] = field(default_factory=dict)

    def account(self, name: str) -> AccountLive:
        return self.live.accounts.get(name) or AccountLive(account=name)

    def add(self, change: Change) -> None:
        self.changes.append(change)
