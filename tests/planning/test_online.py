"""Planning a managed online endpoint of a TrainingRun's adapter: pure, no emulator. The specs are
examples/azureml-cluster-lora (with a stand-in for Phi-3-mini's files); the live side is made
here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from reconciler.desired import TAG_KEY, TAG_PROJECT, TAG_SPEC, DesiredState, adapter_model_name
from reconciler.live import AccountLive, LiveDeployment, LiveState, LocalRunLive
from reconciler.planning import plan
from reconciler.plans import Action, PutDeployment, Why
from reconciler.workspace import load_workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "azureml-cluster-lora"
RUN, ENDPOINT, WORKSPACE = "travel-phi3-qlora", "travel-assistant", "training"
ADDRESS = f"deployment/{WORKSPACE}/{ENDPOINT}"


def _load(repo: Path, *, deployment: bool = True) -> DesiredState:
    shutil.copytree(EXAMPLE, repo / "specs", ignore=shutil.ignore_patterns("models", ".ftops"))
    (repo / ".git").mkdir()
    base = repo / "specs" / "models" / "Phi-3-mini-4k-instruct"
    base.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (base / name).write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    if not deployment:
        specs = repo / "specs" / "ftops.yaml"
        docs = [d for d in yaml.safe_load_all(specs.read_text()) if d["kind"] != "Deployment"]
        specs.write_text(yaml.safe_dump_all(docs))
    return load_workspace([repo / "specs"], count_tokens=False).desired


@pytest.fixture(scope="module")
def desired(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return _load(tmp_path_factory.mktemp("online") / "repo")


def _run_key(desired: DesiredState) -> str:
    return next(r.key for r in desired.local_runs if r.name == RUN)


def _live(desired: DesiredState, phase: str, *deployments: LiveDeployment) -> LiveState:
    run = LocalRunLive(name=RUN, key=_run_key(desired), phase=phase)
    hub = AccountLive(account=WORKSPACE, deployments=deployments)
    return LiveState(accounts={WORKSPACE: hub}, local_runs={RUN: run}, read_at=1)


def _endpoint(desired: DesiredState, **fields: object) -> LiveDeployment:
    d = next(x for x in desired.deployments if x.deployment_name == ENDPOINT)
    values: dict[str, object] = {
        "name": ENDPOINT,
        "model_name": adapter_model_name(RUN, _run_key(desired)),
        "model_version": "1",
        "sku_name": d.sku.name,
        "capacity": d.sku.capacity,
        "tags": {TAG_PROJECT: desired.project, TAG_KEY: d.key, TAG_SPEC: d.spec_key},
        "provisioning_state": "Succeeded",
        "traffic": 100,
    }
    return LiveDeployment.model_validate(values | fields)


def _change(desired: DesiredState, live: LiveState) -> PutDeployment:
    found = next(c for c in plan(desired, live).changes if str(c.address) == ADDRESS)
    assert isinstance(found, PutDeployment), found
    return found


def test_the_endpoint_waits_for_its_run(desired: DesiredState) -> None:
    change = _change(desired, _live(desired, "missing"))
    assert change.action is Action.CREATE and change.target.model is None
    assert [str(a) for a in change.depends_on] == [f"trainingrun/{RUN}"]
    adapter = change.target.adapter
    assert adapter is not None and (adapter.run, adapter.run_key) == (RUN, _run_key(desired))
    assert adapter.image.startswith("mcr.microsoft.com/azureml/")  # the run's image serves it


def test_a_trained_run_is_served_as_its_model(desired: DesiredState) -> None:
    change = _change(desired, _live(desired, "succeeded"))
    assert change.target.model == adapter_model_name(RUN, _run_key(desired))
    assert change.target.sku.name == "Standard_NC6s_v3" and change.depends_on == ()


def test_a_converged_endpoint_is_kept(desired: DesiredState) -> None:
    result = plan(desired, _live(desired, "succeeded", _endpoint(desired)))
    [kept] = [c for c in result.changes if str(c.address) == ADDRESS]
    assert kept.action is Action.NOOP and kept.reason.why is Why.UP_TO_DATE


def test_a_retrained_run_moves_the_model_in_place(desired: DesiredState) -> None:
    before = _endpoint(desired, model_name=adapter_model_name(RUN, "0" * 64))
    retraining = _change(desired, _live(desired, "missing", before))
    [field] = retraining.reason.fields
    assert retraining.action is Action.UPDATE and field.why is Why.UPSTREAM_CHANGED
    assert field.note == f"upstream training run {RUN} retrains"
    retrained = _change(desired, _live(desired, "succeeded", before))
    [field] = retrained.reason.fields
    assert field.note == f"upstream training run {RUN} was retrained"


def test_traffic_moved_outside_ftops_is_drift(desired: DesiredState) -> None:
    change = _change(desired, _live(desired, "succeeded", _endpoint(desired, traffic=0)))
    [field] = change.reason.fields
    assert (field.path, field.before, field.after, field.why) == ("traffic", 0, 100, Why.DRIFTED)
    assert change.action is Action.UPDATE


def test_a_missing_endpoint_of_a_trained_run_is_named(desired: DesiredState) -> None:
    change = _change(desired, _live(desired, "succeeded"))
    assert change.reason.why is Why.MISSING
    assert change.reason.detail is not None and "not found in the workspace" in change.reason.detail


def test_an_endpoint_of_another_project_is_not_touched(desired: DesiredState) -> None:
    theirs = _endpoint(desired, tags={TAG_PROJECT: "someone-else"})
    result = plan(desired, _live(desired, "succeeded", theirs))
    assert [d.code for d in result.diagnostics if d.is_error] == ["DEPLOYMENT_NOT_OWNED"]


def test_an_endpoint_whose_deployment_left_the_specs_is_pruned(
    desired: DesiredState, tmp_path: Path
) -> None:
    from reconciler.planning import PlanOptions

    kept = _load(tmp_path / "repo", deployment=False)
    assert WORKSPACE in kept.hubs  # declared: read like an account, so prune sees it
    live = _live(desired, "succeeded", _endpoint(desired))
    result = plan(kept, live, PlanOptions(prune=True))
    [deleted] = [c for c in result.changes if c.action is Action.DELETE]
    assert str(deleted.address) == ADDRESS and deleted.reason.why is Why.PRUNE
    assert not [c for c in plan(kept, live).changes if c.action is Action.DELETE]  # opt-in


def test_an_endpoint_left_without_its_deployment_gets_one_in_place(desired: DesiredState) -> None:
    """An apply killed between creating the endpoint and its deployment: no instance type to
    replace yet, so the next plan updates (the maxDeletes guard stays out of it)."""
    bare = _endpoint(desired, model_name=None, model_version=None, sku_name=None, capacity=None)
    change = _change(desired, _live(desired, "succeeded", bare.model_copy(update={"traffic": 0})))
    assert change.action is Action.UPDATE
    assert {f.path for f in change.reason.fields} >= {"model", "sku.name", "sku.capacity"}
    assert not any(f.forces_replacement for f in change.reason.fields)
