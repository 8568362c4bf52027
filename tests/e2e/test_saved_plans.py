"""A saved plan is a contract: `apply --plan` runs exactly its changes, and refuses (exit 4,
nothing changed) when the specs, their data or the live state moved since it was saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.e2e.conftest import stats
from tests.helpers import SUBSCRIPTION, arm_client

RG, ACCOUNT = "ftops-quickstart", "ftops-quickstart-eastus2"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def capacity(specs: Path, value: int) -> None:
    path = specs / "ftops.yaml"
    text = path.read_text()
    current = next(line for line in text.splitlines() if "capacity:" in line)
    path.write_text(text.replace(current, f"    capacity: {value}"))


def live_capacity(emulator: RunningEmulator) -> int:
    deployment = arm_client(emulator.url, SUBSCRIPTION).deployments.get(RG, ACCOUNT, "travel")
    return int(deployment.sku.capacity)


@pytest.fixture
def converged(use_emulator: RunningEmulator, example, capsys) -> Path:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    assert run(capsys, "apply", str(specs), "--emulator", "--yes", "--wait")[0] == 0
    return Path(specs)


def test_a_spec_edited_after_the_plan_was_saved_is_refused(
    converged: Path, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    capacity(converged, 2)
    assert run(capsys, "plan", str(converged), "--emulator", "--out", "plan.json")[0] == 0
    capacity(converged, 4)
    writes = stats(use_emulator)["writes"]
    code, _, err = run(
        capsys, "apply", str(converged), "--emulator", "--yes", "--plan", "plan.json"
    )
    assert code == 4
    assert "GUARD_STALE_PLAN" in err and "the specs or their data changed" in err
    assert stats(use_emulator)["writes"] == writes
    assert live_capacity(use_emulator) == 1


def test_an_untouched_saved_plan_applies_exactly_its_changes(
    converged: Path, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    capacity(converged, 2)
    assert run(capsys, "plan", str(converged), "--emulator", "--out", "plan.json")[0] == 0
    saved = json.loads(Path("plan.json").read_text())
    promised = [c["address"] for c in saved["changes"] if c["action"] != "noop"]
    assert promised == ["deployment/main/travel"]
    code, _, err = run(
        capsys,
        "apply",
        str(converged),
        "--emulator",
        "--yes",
        "--plan",
        "plan.json",
        "--receipt",
        "receipt.json",
    )
    assert code == 0, err
    done = json.loads(Path("receipt.json").read_text())["done"]
    assert [d["address"] for d in done] == promised
    assert live_capacity(use_emulator) == 2


def test_a_saved_plan_is_applied_with_its_own_options(
    converged: Path, use_emulator: RunningEmulator, capsys
) -> None:  # type: ignore[no-untyped-def]
    """`--prune` on the command line does not widen a saved plan planned without it."""
    leftover = arm_client(use_emulator.url, SUBSCRIPTION).deployments.get(RG, ACCOUNT, "travel")
    text = (converged / "ftops.yaml").read_text()
    (converged / "ftops.yaml").write_text(
        text.replace("name: travel\nspec:\n  account", "name: travel2\nspec:\n  account")
    )
    assert run(capsys, "plan", str(converged), "--emulator", "--out", "plan.json")[0] == 0
    code, _, err = run(
        capsys, "apply", str(converged), "--emulator", "--yes", "--plan", "plan.json", "--prune"
    )
    assert code == 0, err
    names = [
        d.name for d in arm_client(use_emulator.url, SUBSCRIPTION).deployments.list(RG, ACCOUNT)
    ]
    assert sorted(names) == sorted([leftover.name, "travel2"])
    assert "outside it remain" not in err  # the prune candidate is a warning, not a change
