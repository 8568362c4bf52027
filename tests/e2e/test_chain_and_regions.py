"""A two-step chain trained in one region and copied to another: the target gets `source`."""

from __future__ import annotations

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.helpers import arm_client, openai_client


def test_chain_and_cross_region_copy(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    specs = str(example("chain-and-regions"))
    assert main(["plan", specs, "--emulator", "--detailed-exitcode"]) == 2
    out = capsys.readouterr().out
    assert "reason: new: upstream fine-tune travel-base will be trained first" in out

    assert main(["apply", specs, "--emulator", "--yes", "--wait"]) == 0
    assert main(["plan", specs, "--emulator", "--detailed-exitcode"]) == 0
    capsys.readouterr()

    east = arm_client(use_emulator.url, "00000000-0000-0000-0000-000000000000")
    sweden = arm_client(use_emulator.url, "11111111-1111-1111-1111-111111111111")
    home = east.deployments.get("ftops-chain", "ftops-chain-eastus2", "hotel")
    copy = sweden.deployments.get("ftops-chain", "ftops-chain-swedencentral", "hotel")
    assert copy.properties.model.name == home.properties.model.name
    assert home.properties.model.source is None
    assert copy.properties.model.source == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ftops-chain"
        "/providers/Microsoft.CognitiveServices/accounts/ftops-chain-eastus2"
    )
    assert copy.sku.capacity == 2
    # the second step continued the first step's model
    jobs = [
        j.model_dump()
        for j in openai_client(use_emulator.url, "ftops-chain-eastus2").fine_tuning.jobs.list()
    ]
    hotel = next(j for j in jobs if j["suffix"].startswith("travel-hotel-"))
    base = next(j for j in jobs if j["suffix"].startswith("travel-base-"))
    assert hotel["model"] == base["fine_tuned_model"]
