"""The applier on its own: typed changes dispatched to a fake provider, re-planned each round
until converged; a provider that does not keep a change is a `ConvergenceError`."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.applying import Applier, ApplyOptions
from reconciler.errors import ConvergenceError, ExitCode
from reconciler.live import LiveState
from reconciler.planning import plan
from reconciler.session import Quiet
from tests.applying.fake_cloud import FakeCloud
from tests.planning.test_planning import EXAMPLES, desired_of


def applier(example: str, cloud: FakeCloud, **options: object) -> Applier:
    return Applier(
        desired=desired_of(EXAMPLES / example),
        cloud=cloud,
        progress=Quiet(),
        options=ApplyOptions(poll_s=0, **options),  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


@pytest.mark.parametrize("example", ["quickstart", "chain-and-regions", "fan-out"])
def test_apply_converges_and_a_second_apply_writes_nothing(example: str) -> None:
    cloud = FakeCloud()
    result = applier(example, cloud, wait=True).run()
    assert result.exit_code == ExitCode.OK and result.final.is_converged
    assert any(w.startswith("train ") for w in cloud.writes)
    writes = len(cloud.writes)
    again = applier(example, cloud, wait=True).run()
    assert again.exit_code == ExitCode.OK and again.done == []
    assert len(cloud.writes) == writes


def test_the_chain_trains_upstream_first_and_copies_across_regions() -> None:
    cloud = FakeCloud()
    applier("chain-and-regions", cloud, wait=True).run()
    trains = [w for w in cloud.writes if w.startswith("train ")]
    assert [t.split()[1].rsplit("-", 1)[0] for t in trains] == ["travel-base", "travel-hotel"]
    sweden = cloud.accounts["swedencentral"].deployments[0]
    hotel = cloud.accounts["eastus2"].jobs[1]
    assert sweden.model_name == hotel.fine_tuned_model and sweden.trained_in == "eastus2"
    assert hotel.model == cloud.accounts["eastus2"].jobs[0].fine_tuned_model


def test_a_change_the_cloud_does_not_keep_is_a_convergence_error() -> None:
    cloud = FakeCloud(ignore_deployments=True)
    with pytest.raises(ConvergenceError) as caught:
        applier("quickstart", cloud, wait=True).run()
    assert caught.value.code == "NOT_CONVERGED"
    assert "deployment/main/travel" in caught.value.message
    assert cloud.writes.count("put travel") == 1  # refused the second time, not looped


def test_the_converged_fake_cloud_plans_nothing() -> None:
    cloud = FakeCloud()
    applier("quickstart", cloud, wait=True).run()
    d = desired_of(EXAMPLES / "quickstart")
    assert plan(d, LiveState(accounts=cloud.accounts)).is_converged


def test_a_job_paused_by_azure_ends_apply_with_in_progress_not_a_wait_forever() -> None:
    from tests.planning.test_foundry import _paused_rft

    desired = desired_of(EXAMPLES / "rft")
    cloud = FakeCloud()
    cloud._set("east", jobs=(_paused_rft(desired, "azure"),))
    result = applier("rft", cloud, wait=True).run()
    assert result.exit_code == ExitCode.IN_PROGRESS
    assert [str(c.address) for c in result.final.held] == [
        "finetune/east/maths-rft",
        "deployment/east/maths-rft",
    ]
    assert not [w for w in cloud.writes if w.startswith(("resume", "put", "train"))]


def test_an_invalid_grader_fails_the_plan_before_any_write(tmp_path: Path) -> None:
    from reconciler.errors import SpecError
    from tests.planning.test_foundry import _with

    desired = _with(tmp_path, "rft", "name: last-number", "name: bad-grader")
    cloud = FakeCloud()
    app = Applier(desired=desired, cloud=cloud, progress=Quiet(), sleep=lambda _: None)
    review = app.review()
    (check,) = review.plan.grader_checks
    assert (check.valid, check.message) == (False, "grader 'bad-grader' is bad")
    with pytest.raises(SpecError) as caught:
        app.run()
    assert caught.value.code == "GRADER_INVALID"
    assert [w for w in cloud.writes if not w.startswith("validate")] == []


def test_a_valid_grader_is_checked_and_the_job_trains() -> None:
    cloud = FakeCloud()
    result = applier("rft", cloud, wait=True).run()
    assert result.exit_code == ExitCode.OK
    assert "validate last-number" in cloud.writes
    assert any(w.startswith("train maths-rft") for w in cloud.writes)


def test_usages_are_read_only_for_accounts_the_plan_adds_to() -> None:
    cloud = FakeCloud()
    applier("chain-and-regions", cloud, wait=True).run()
    assert set(cloud.usage_reads) == {"eastus2", "swedencentral"}  # files and deployments added
    cloud.usage_reads.clear()
    again = applier("chain-and-regions", cloud, wait=True).run()
    assert again.final.is_converged and cloud.usage_reads == []  # nothing added: none read


def test_a_receipts_metrics_come_without_another_full_read() -> None:
    plain, receipt = FakeCloud(), FakeCloud()
    applier("quickstart", plain, wait=True).run()
    result = applier("quickstart", receipt, wait=True, final_metrics=True).run()
    assert result.exit_code == ExitCode.OK
    assert receipt.account_reads == plain.account_reads  # the same rounds, no extra read
    (job,) = receipt.accounts["main"].jobs
    assert receipt.progress_reads == [job.suffix] and plain.progress_reads == []
