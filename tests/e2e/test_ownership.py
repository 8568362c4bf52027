"""ftops deletes only what it owns, provably from live state alone: files are named
`{project}.{dataset}.{sha}.jsonl`, deployments are tagged with the project, and a protected
deployment carries `ftops-protect` so that removing its YAML does not unprotect it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.helpers import SUBSCRIPTION, arm_client, openai_client

RG, ACCOUNT = "ftops-quickstart", "ftops-quickstart-eastus2"


def files(emulator: RunningEmulator) -> list[str]:
    client = openai_client(emulator.url, ACCOUNT)
    return sorted(f.filename for f in client.files.list() if f.filename.endswith(".jsonl"))


def deployments(emulator: RunningEmulator) -> dict[str, dict[str, str]]:
    arm = arm_client(emulator.url, SUBSCRIPTION)
    return {d.name: dict(d.tags or {}) for d in arm.deployments.list(RG, ACCOUNT)}


def edit(specs: Path, old: str, new: str) -> None:
    path = specs / "ftops.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def drop_document(specs: Path, kind: str, name: str) -> None:
    path = specs / "ftops.yaml"
    docs = path.read_text().split("\n---\n")
    kept = [d for d in docs if not (f"kind: {kind}\n" in d and f"name: {name}\n" in d)]
    assert len(kept) == len(docs) - 1
    path.write_text("\n---\n".join(kept))


def apply(specs: Path, *flags: str) -> int:
    return main(["apply", str(specs), "--emulator", "--yes", "--wait", *flags])


@pytest.fixture
def two_projects(use_emulator: RunningEmulator, example) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """The quickstart twice on one account: same dataset name, another project, another seed."""
    a = example("quickstart")
    b = a.parent / "other"
    b.mkdir()
    (b / "data").mkdir()
    (b / "data" / "travel.jsonl").write_bytes((a / "data" / "travel.jsonl").read_bytes())
    (b / "ftops.yaml").write_text((a / "ftops.yaml").read_text())
    edit(b, "name: quickstart", "name: other")
    edit(b, "seed: 42", "seed: 7")
    edit(
        b,
        "kind: Deployment\nmetadata:\n  name: travel",
        "kind: Deployment\nmetadata:\n  name: travel-b",
    )
    assert apply(a) == 0 and apply(b) == 0
    return a, b


def test_pruning_one_project_never_touches_another(
    two_projects: tuple[Path, Path], use_emulator: RunningEmulator
) -> None:
    a, b = two_projects
    assert [f.split(".")[0] for f in files(use_emulator)] == ["other", "quickstart"]
    lines = (a / "data" / "travel.jsonl").read_text().splitlines()
    (a / "data" / "travel.jsonl").write_text("\n".join([*lines[1:], lines[0]]) + "\n")
    assert apply(a, "--prune") == 0
    owners = [f.split(".")[0] for f in files(use_emulator)]
    assert owners == ["other", "quickstart"]  # a's old version went, b's same-named file stayed
    assert set(deployments(use_emulator)) == {"travel", "travel-b"}
    assert main(["destroy", str(a), "--emulator", "--yes"]) == 0
    assert [f.split(".")[0] for f in files(use_emulator)] == ["other"]
    assert set(deployments(use_emulator)) == {"travel-b"}
    assert main(["plan", str(b), "--emulator", "--detailed-exitcode"]) == 0


def test_files_of_a_removed_dataset_are_pruned(use_emulator: RunningEmulator, example) -> None:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    assert apply(specs) == 0
    for kind, name in (("Deployment", "travel"), ("FineTune", "travel-v1"), ("Dataset", "travel")):
        drop_document(specs, kind, name)
    assert apply(specs, "--prune") == 0
    assert files(use_emulator) == [] and deployments(use_emulator) == {}


def test_a_protected_deployment_outlives_its_yaml(
    use_emulator: RunningEmulator, example, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    edit(specs, "    capacity: 1", "    capacity: 1\n  protect: true")
    assert apply(specs) == 0
    assert deployments(use_emulator)["travel"]["ftops-protect"] == "true"
    text = (specs / "ftops.yaml").read_text()
    drop_document(specs, "Deployment", "travel")
    capsys.readouterr()
    assert apply(specs, "--prune") == 0
    assert "DELETE_PROTECTED" in capsys.readouterr().err
    assert main(["destroy", str(specs), "--emulator", "--yes"]) == 0
    assert "travel" in deployments(use_emulator)
    # Unprotecting is an explicit apply of protect: false; then prune deletes it.
    (specs / "ftops.yaml").write_text(text.replace("  protect: true", "  protect: false"))
    assert apply(specs) == 0
    assert "ftops-protect" not in deployments(use_emulator)["travel"]
    drop_document(specs, "Deployment", "travel")
    assert apply(specs, "--prune") == 0
    assert "travel" not in deployments(use_emulator)
