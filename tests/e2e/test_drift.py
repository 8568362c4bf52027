"""Changes made outside ftops (a person in the portal, Azure's own clean-up) show in the next plan;
a changed dataset shows its data diff against the uploaded version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.helpers import SUBSCRIPTION, arm_client

RG, ACCOUNT = "ftops-quickstart", "ftops-quickstart-eastus2"


def plan_json(specs: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["plan", specs, "--emulator", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def applied(use_emulator: RunningEmulator, example, capsys) -> str:  # type: ignore[no-untyped-def]
    specs = str(example("quickstart"))
    assert main(["apply", specs, "--emulator", "--yes", "--wait"]) == 0
    capsys.readouterr()
    return specs


def test_deployment_deleted_outside_ftops_is_recreated(
    applied: str, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    arm_client(use_emulator.url, SUBSCRIPTION).deployments.begin_delete(
        RG, ACCOUNT, "travel"
    ).result()
    [change] = [c for c in plan_json(applied, capsys)["changes"] if c["action"] != "noop"]
    assert change["address"] == "deployment/main/travel" and change["action"] == "create"
    assert change["reason"]["why"] == "missing"
    assert change["reason"]["text"].startswith("missing: not found in the account")
    assert "15 days without traffic" in change["reason"]["text"]
    assert main(["apply", applied, "--emulator", "--yes", "--wait"]) == 0


def test_capacity_changed_in_the_portal_is_put_back(
    applied: str, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    from azure.mgmt.cognitiveservices.models import PatchResourceTagsAndSku, Sku

    arm = arm_client(use_emulator.url, SUBSCRIPTION)
    arm.deployments.begin_update(
        RG, ACCOUNT, "travel", PatchResourceTagsAndSku(sku=Sku(name="Standard", capacity=7))
    ).result()
    [change] = [c for c in plan_json(applied, capsys)["changes"] if c["action"] != "noop"]
    assert change["action"] == "update"
    assert change["reason"]["why"] == "drifted"
    assert change["reason"]["text"] == "changed outside ftops: sku.capacity 7 (live) → 1 (spec)"
    [field] = change["reason"]["fields"]
    assert (field["path"], field["before"], field["after"]) == ("sku.capacity", 7, 1)
    assert main(["apply", applied, "--emulator", "--yes"]) == 0
    assert arm.deployments.get(RG, ACCOUNT, "travel").sku.capacity == 1


def test_changed_dataset_shows_a_data_diff(applied: str, capsys) -> None:  # type: ignore[no-untyped-def]
    data = Path(applied) / "data" / "travel.jsonl"
    lines = data.read_text().splitlines()
    extra = lines[0].replace("Paris", "Lisbon").replace("France", "Portugal")
    assert extra != lines[0]
    data.write_text("\n".join([*lines[1:], extra, lines[2].replace("?", "??")]) + "\n")
    plan = plan_json(applied, capsys)
    actions = {c["address"]: c["action"] for c in plan["changes"]}
    assert actions == {
        "file/main/travel": "upload",
        "finetune/main/travel-v1": "train",
        "deployment/main/travel": "update",
    }
    [diff] = plan["estimates"]["data_diffs"]
    assert (diff["added_examples"], diff["removed_examples"]) == (2, 1)
    train = next(c for c in plan["changes"] if c["action"] == "train")
    assert train["reason"]["text"].startswith("spec changed: trainingData: travel (sha 13663c04 → ")
    assert train["reason"]["text"].endswith(", +2 / −1 examples)")
    assert diff["token_delta"] is not None and diff["token_delta"] > 0


def test_refresh_only_reports_drift_and_nothing_else(
    applied: str, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    from azure.mgmt.cognitiveservices.models import PatchResourceTagsAndSku, Sku

    refresh = ["plan", applied, "--emulator", "--refresh-only", "--detailed-exitcode"]
    assert main(refresh) == 0
    spec = Path(applied) / "ftops.yaml"
    spec.write_text(spec.read_text().replace("epochs: 3", "epochs: 2"))  # a spec change: not drift
    assert main(refresh) == 0
    capsys.readouterr()
    arm_client(use_emulator.url, SUBSCRIPTION).deployments.begin_update(
        RG, ACCOUNT, "travel", PatchResourceTagsAndSku(sku=Sku(name="Standard", capacity=7))
    ).result()
    assert main([*refresh, "--format", "json"]) == 2
    [change] = [c for c in json.loads(capsys.readouterr().out)["changes"] if c["action"] != "noop"]
    assert change["address"] == "deployment/main/travel"
    assert [f["why"] for f in change["reason"]["fields"]] == ["drifted"]
