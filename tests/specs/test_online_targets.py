"""Deployments of a TrainingRun's adapter (`model: {trainingRun: X}`, a managed online endpoint
of an ML workspace): what `validate` refuses, with the code, the line and a hint, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import Diagnostic
from tests.specs.edited import Edit, example_errors

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "azureml-cluster-lora"
BASE = "models/Phi-3-mini-4k-instruct"


def stand_in_base(specs: Path) -> None:
    """Phi-3-mini's files, as validate sees them: it reads them, it does not load them."""
    base = specs / BASE
    base.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (base / name).write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")


def problems(tmp_path: Path, edit: Edit, extra: list[dict] | None = None) -> list[Diagnostic]:  # type: ignore[type-arg]
    return example_errors(tmp_path, EXAMPLE, edit, extra, prepare=stand_in_base)


def deployment(docs: dict) -> dict:  # type: ignore[type-arg]
    return dict(docs["Deployment"]["spec"])


def test_the_example_validates(tmp_path: Path) -> None:
    assert problems(tmp_path, lambda docs: None) == []


def test_an_adapter_is_served_from_a_workspace_not_an_account(tmp_path: Path) -> None:
    def on_account(docs: dict) -> None:  # type: ignore[type-arg]
        spec = docs["Deployment"]["spec"]
        spec["account"] = spec.pop("workspace")

    [found, *_] = problems(tmp_path, on_account)
    assert found.code == "SPEC_INVALID_VALUE"
    assert "managed online endpoint: give workspace" in found.message


@pytest.mark.parametrize(
    ("sku", "word"),
    [(None, "needs sku"), ({"name": "Standard", "capacity": 1}, "needs sku")],
)
def test_an_online_endpoint_needs_an_instance_type(
    tmp_path: Path,
    sku: dict | None,
    word: str,  # type: ignore[type-arg]
) -> None:
    def edit(docs: dict) -> None:  # type: ignore[type-arg]
        spec = docs["Deployment"]["spec"]
        spec.pop("sku")
        if sku is not None:
            spec["sku"] = sku

    [found] = problems(tmp_path, edit)
    assert found.code == "SPEC_INVALID_VALUE" and word in found.message
    assert "Standard_NC24ads_A100_v4" in found.message  # the shape it wants


def test_an_online_endpoint_has_no_content_filter(tmp_path: Path) -> None:
    def edit(docs: dict) -> None:  # type: ignore[type-arg]
        docs["Deployment"]["spec"]["raiPolicy"] = "strict"

    [found] = problems(tmp_path, edit)
    assert found.code == "SPEC_INVALID_VALUE" and "has no raiPolicy" in found.message


def test_the_run_must_be_placed_on_the_endpoints_workspace(tmp_path: Path) -> None:
    other = {
        "apiVersion": "ftops/v1",
        "kind": "MLWorkspace",
        "metadata": {"name": "serving"},
        "spec": {
            "subscription": "33333333-3333-3333-3333-333333333333",
            "resourceGroup": "rg-serving",
            "workspaceName": "ml-serving",
            "region": "eastus2",
        },
    }

    def elsewhere(docs: dict) -> None:  # type: ignore[type-arg]
        docs["Deployment"]["spec"]["workspace"] = "serving"

    [found] = problems(tmp_path, elsewhere, [other])
    assert found.code == "SPEC_SERVED_ELSEWHERE"
    assert "placed on 'training'" in found.message and found.location is not None
    assert found.hint is not None and "compute.azureML.workspace" in found.hint


def test_a_run_trained_here_is_not_served_by_an_endpoint(tmp_path: Path) -> None:
    def local(docs: dict) -> None:  # type: ignore[type-arg]
        docs["TrainingRun"]["spec"]["compute"].pop("azureML")

    found = [d for d in problems(tmp_path, local) if d.code == "SPEC_SERVED_ELSEWHERE"]
    assert len(found) == 1 and "placed on this machine" in found[0].message


def test_an_unknown_run_is_named(tmp_path: Path) -> None:
    def unknown(docs: dict) -> None:  # type: ignore[type-arg]
        docs["Deployment"]["spec"]["model"] = {"trainingRun": "travel-phi3"}

    [found] = problems(tmp_path, unknown)
    assert found.code == "SPEC_UNKNOWN_REFERENCE"
    assert found.hint == "declared TrainingRun names: travel-phi3-qlora"


def test_an_endpoint_name_azure_ml_refuses(tmp_path: Path) -> None:
    def long_name(docs: dict) -> None:  # type: ignore[type-arg]
        docs["Deployment"]["metadata"]["name"] = "a-travel-assistant-for-lisbon-and-porto"

    [found] = problems(tmp_path, long_name)
    assert found.code == "SPEC_ENDPOINT_NAME"
    assert found.hint is not None and "3 to 32" in found.hint

    def renamed(docs: dict) -> None:  # type: ignore[type-arg]
        long_name(docs)
        docs["Deployment"]["spec"]["deploymentName"] = "travel-assistant"

    assert problems(tmp_path / "renamed", renamed) == []
