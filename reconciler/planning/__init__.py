"""Pure: (desired, live, options) → Plan. See `core` for the walk, one module per resource kind."""

from reconciler.planning.core import live_fingerprint, plan
from reconciler.planning.guards import check_guards
from reconciler.planning.limits import usages_needed
from reconciler.plans import PlanOptions

__all__ = ["PlanOptions", "check_guards", "live_fingerprint", "plan", "usages_needed"]
