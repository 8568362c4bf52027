"""Golden plan renderings: text, markdown and JSON of the quickstart and the chain on an empty
and on a converged account. Regenerate with FTOPS_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import rendering
from reconciler.catalog import load_catalog
from reconciler.live import AccountLive, LiveState
from reconciler.planning import plan
from tests.planning.test_planning import EXAMPLES, desired_of, owned, trained

HERE = Path(__file__).parent


def check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("FTOPS_UPDATE_GOLDEN") and (not path.exists() or path.read_text() != text):
        path.write_text(text)
        pytest.skip(f"{name} regenerated: review the diff")
    assert path.read_text() == text, f"{name} changed; FTOPS_UPDATE_GOLDEN=1 regenerates it"


@pytest.mark.parametrize("example", ["quickstart", "chain-and-regions"])
def test_plan_on_empty_accounts(example: str) -> None:
    p = plan(desired_of(EXAMPLES / example), LiveState(), catalog=load_catalog())
    check(f"{example}.plan.txt", rendering.plan_text(p) + "\n")
    check(f"{example}.plan.md", rendering.plan_markdown(p))
    check(f"{example}.plan.json", rendering.plan_json(p) + "\n")


def test_plan_when_converged() -> None:
    d = desired_of(EXAMPLES / "quickstart")
    job = trained(d, "travel-v1")
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                deployments=(owned(d, "travel", job.fine_tuned_model or ""),),
            )
        }
    )
    p = plan(d, live, catalog=load_catalog())
    check("quickstart.converged.txt", rendering.plan_text(p) + "\n")
