"""Properties of plan and apply over generated specs: apply converges (the plan of the live
state it leaves is empty); a plan does not depend on the order of the documents; a capacity
moved in the portal is drift, the same move in the spec a spec change."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.applying import Applier, ApplyOptions
from reconciler.desired import DatasetFacts, DesiredState, build_desired
from reconciler.live import LiveState
from reconciler.planning import PlanOptions, plan
from reconciler.plans import Plan, Why
from reconciler.session import Quiet
from reconciler.specs.loading import load_paths
from tests.applying.fake_cloud import FakeCloud
from tests.planning.test_planning import EXAMPLES

# checkpoint is left out: the fake cloud keeps no checkpoints.
EXAMPLE_NAMES = ["quickstart", "chain-and-regions", "fan-out", "dpo", "cross-tenant"]
LOADED = {name: load_paths([EXAMPLES / name]).documents for name in EXAMPLE_NAMES}

variants = st.fixed_dictionaries(
    {
        "example": st.sampled_from(EXAMPLE_NAMES),
        "epochs": st.one_of(st.just("auto"), st.integers(3, 6)),
        "seed": st.one_of(st.none(), st.integers(0, 2**31 - 1)),
        "capacity": st.integers(1, 10),
        "digest": st.binary(min_size=32, max_size=32).map(bytes.hex),
    }
)


def desired(v: dict[str, Any], order: random.Random | None = None) -> DesiredState:
    """An example with its epochs, seed, capacities and data varied; documents maybe shuffled."""
    docs = []
    for doc in LOADED[v["example"]]:
        spec = doc.spec
        if doc.kind == "FineTune":
            hyper = spec.method.hyperparameters.model_copy(update={"epochs": v["epochs"]})
            method = spec.method.model_copy(update={"hyperparameters": hyper})
            spec = spec.model_copy(update={"method": method, "seed": v["seed"]})
        if doc.kind == "Deployment":
            spec = spec.model_copy(
                update={"sku": spec.sku.model_copy(update={"capacity": v["capacity"]})}
            )
        docs.append(replace(doc, spec=spec))
    if order is not None:
        order.shuffle(docs)
    facts = {
        d.name: DatasetFacts(
            name=d.name, digest=v["digest"], path=f"/data/{d.name}.jsonl", examples=20
        )
        for d in docs
        if d.kind == "Dataset"
    }
    return build_desired(docs, facts)


def converge(d: DesiredState, cloud: FakeCloud) -> Plan:
    applier = Applier(
        desired=d,
        cloud=cloud,
        progress=Quiet(),
        options=ApplyOptions(wait=True, poll_s=0),
        sleep=lambda _: None,
    )
    return applier.run().final


def by_address(p: Plan) -> dict[str, Any]:
    return {str(c.address): c.model_dump(mode="json") for c in p.changes}


@settings(max_examples=40, deadline=None)
@given(v=variants, before=variants)
def test_apply_leaves_a_live_state_whose_plan_is_empty(
    v: dict[str, Any], before: dict[str, Any]
) -> None:
    cloud = FakeCloud()
    if before["example"] == v["example"]:
        converge(desired(before), cloud)  # start from an earlier version of the same specs
    d = desired(v)
    assert converge(d, cloud).is_converged
    assert plan(d, LiveState(accounts=cloud.accounts)).is_converged


@settings(max_examples=40, deadline=None)
@given(v=variants, seed=st.integers(0, 1000), prune=st.booleans())
def test_the_plan_does_not_depend_on_document_order(
    v: dict[str, Any], seed: int, prune: bool
) -> None:
    cloud = FakeCloud()
    converge(desired({**v, "capacity": 1, "epochs": "auto"}), cloud)  # a live state to diff
    live = LiveState(accounts=cloud.accounts)
    options = PlanOptions(prune=prune)
    ordered = plan(desired(v), live, options)
    shuffled = plan(desired(v, random.Random(seed)), live, options)
    assert by_address(shuffled) == by_address(ordered)


@settings(max_examples=25, deadline=None)
@given(v=variants, moved=st.integers(11, 20))
def test_capacity_moved_live_is_drift_and_in_the_spec_a_spec_change(
    v: dict[str, Any], moved: int
) -> None:
    cloud = FakeCloud()
    d = desired(v)
    converge(d, cloud)
    live = LiveState(accounts=cloud.accounts)
    edited = plan(desired({**v, "capacity": moved}), live).pending
    assert edited and all(
        _capacity(c.reason) == (Why.SPEC_CHANGED, v["capacity"], moved) for c in edited
    )
    for name, acct in cloud.accounts.items():
        deployments = tuple(x.model_copy(update={"capacity": moved}) for x in acct.deployments)
        cloud.accounts[name] = acct.model_copy(update={"deployments": deployments})
    drifted = plan(d, LiveState(accounts=cloud.accounts)).pending
    assert drifted and all(
        _capacity(c.reason) == (Why.DRIFTED, moved, v["capacity"]) for c in drifted
    )


def _capacity(reason: Any) -> tuple[Why, Any, Any]:
    [field] = reason.fields
    assert field.path == "sku.capacity" and field.why is reason.why
    return reason.why, field.before, field.after
