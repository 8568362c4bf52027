"""FineTunes and Deployments in an ML workspace (`workspace:`): what `validate` refuses, with the
code, the line and a hint, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import Diagnostic
from tests.specs.edited import Edit, example_errors

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "phi-serverless"
ACCOUNT = {
    "subscription": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "accountName": "acct-eastus2",
    "region": "eastus2",
}


def problems(tmp_path: Path, edit: Edit, extra: list[dict] | None = None) -> list[Diagnostic]:  # type: ignore[type-arg]
    return example_errors(tmp_path, EXAMPLE, edit, extra)


def account(name: str) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "ftops/v1",
        "kind": "Account",
        "metadata": {"name": name},
        "spec": ACCOUNT,
    }


def test_the_example_validates(tmp_path: Path) -> None:
    assert problems(tmp_path, lambda docs: None) == []


def test_exactly_one_of_account_and_workspace(tmp_path: Path) -> None:
    def both(docs: dict) -> None:  # type: ignore[type-arg]
        docs["FineTune"]["spec"]["account"] = "main"

    found = problems(tmp_path, both, [account("main")])
    assert found[0].code == "SPEC_INVALID_VALUE" and "exactly one of account" in found[0].message
    # the one knock-on: the Deployment now serves it outside the place it trains in
    assert [d.code for d in found[1:]] == ["SPEC_SERVED_ELSEWHERE"]


@pytest.mark.parametrize(
    ("field", "value", "word"),
    [("sku", {"name": "Standard", "capacity": 2}, "sku"), ("raiPolicy", "strict", "raiPolicy")],
)
def test_a_serverless_endpoint_refuses_what_it_lacks(
    tmp_path: Path, field: str, value: object, word: str
) -> None:
    def add(docs: dict) -> None:  # type: ignore[type-arg]
        docs["Deployment"]["spec"][field] = value

    [found] = problems(tmp_path, add)
    assert found.code == "SPEC_INVALID_VALUE" and f"has no {word}" in found.message


def test_a_fine_tune_in_a_workspace_has_no_training_tier(tmp_path: Path) -> None:
    def tier(docs: dict) -> None:  # type: ignore[type-arg]
        docs["FineTune"]["spec"]["trainingType"] = "Global"

    [found] = problems(tmp_path, tier)
    assert "trainingType and paused are Azure OpenAI's" in found.message


def test_a_workspace_model_is_served_in_its_workspace_only(tmp_path: Path) -> None:
    def to_account(docs: dict) -> None:  # type: ignore[type-arg]
        spec = docs["Deployment"]["spec"]
        del spec["workspace"]
        spec["account"] = "main"

    [found] = problems(tmp_path, to_account, [account("main")])
    assert found.code == "SPEC_SERVED_ELSEWHERE" and found.location is not None
    assert found.hint and "same workspace" in found.hint


def test_a_workspace_that_trains_may_not_share_an_accounts_name(tmp_path: Path) -> None:
    def rename(docs: dict) -> None:  # type: ignore[type-arg]
        docs["MLWorkspace"]["metadata"]["name"] = "main"
        docs["FineTune"]["spec"]["workspace"] = "main"
        docs["Deployment"]["spec"]["workspace"] = "main"

    [found] = problems(tmp_path, rename, [account("main")])
    assert found.code == "SPEC_DUPLICATE_NAME" and "MLWorkspace 'main'" in found.message


def test_an_openai_model_does_not_train_in_a_workspace(tmp_path: Path) -> None:
    def openai(docs: dict) -> None:  # type: ignore[type-arg]
        docs["FineTune"]["spec"]["baseModel"] = "gpt-4o-mini"

    [found] = problems(tmp_path, openai)
    assert found.code == "PREFLIGHT_ACCOUNT_KIND" and "not in ML workspace" in found.message


def test_a_phi_model_does_not_train_on_an_account(tmp_path: Path) -> None:
    def on_account(docs: dict) -> None:  # type: ignore[type-arg]
        for kind in ("FineTune", "Deployment"):
            del docs[kind]["spec"]["workspace"]
            docs[kind]["spec"]["account"] = "main"
        del docs["Deployment"]["spec"]["smokeTest"]

    [found] = problems(tmp_path, on_account, [account("main")])
    assert (
        found.code == "PREFLIGHT_ACCOUNT_KIND" and "serverless in an Azure ML hub" in found.message
    )


def test_serverless_fine_tuning_takes_epochs_and_batch_size_only(tmp_path: Path) -> None:
    def multiplier(docs: dict) -> None:  # type: ignore[type-arg]
        docs["FineTune"]["spec"]["method"]["hyperparameters"]["learningRateMultiplier"] = 2

    [found] = problems(tmp_path, multiplier)
    assert found.code == "PREFLIGHT_HYPERPARAMETER" and "learningRateMultiplier" in found.message


def test_phi_3_trains_in_east_us_2_only(tmp_path: Path) -> None:
    def phi3(docs: dict) -> None:  # type: ignore[type-arg]
        docs["FineTune"]["spec"]["baseModel"] = "Phi-3-mini-4k-instruct"
        docs["MLWorkspace"]["spec"]["region"] = "eastus"

    [found] = problems(tmp_path, phi3)
    assert found.code == "PREFLIGHT_REGION" and found.hint and found.hint.endswith("in: eastus2")
