"""Microsoft Foundry fine-tuning as it is today, end to end on the emulator through the real
SDKs: the v1 API, training tiers, paused jobs (by a person, on Developer-tier preemption, at the
RFT cost cap), reinforcement graders, and large files through the Uploads API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from reconciler.cli import EMULATOR_URL_ENV, main
from reconciler.emulator.server import RunningEmulator, start_background
from tests.e2e.conftest import stats
from tests.helpers import openai_client

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def edit(spec: Path, old: str, new: str) -> None:
    text = spec.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {spec}"
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def slow_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    """Simulated time at 30× instead of 300×: a job trains for tens of seconds, long enough to
    be paused while it runs; the test jumps the clock where it needs more."""
    emu = start_background(state=tmp_path / "slow.sqlite", time_scale=30, record_bodies=True)
    monkeypatch.setenv(EMULATOR_URL_ENV, emu.url)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def fast_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    """200× simulated time: a 150 MB file processes (20 s + 1 s per 50 kB) in 15 s of the
    test's time, and an upload has 18 s before its hour expires (at 600× its 6 s ran out on a
    busy CI machine while the parts went up)."""
    emu = start_background(state=tmp_path / "fast.sqlite", time_scale=200)
    monkeypatch.setenv(EMULATOR_URL_ENV, emu.url)
    try:
        yield emu
    finally:
        emu.stop()


def advance(emu: RunningEmulator, seconds: float) -> None:
    httpx.post(f"{emu.url}/_emulator/clock", json={"advance_seconds": seconds}).raise_for_status()


def only_job(emu: RunningEmulator, account: str) -> dict:  # type: ignore[type-arg]
    (job,) = openai_client(emu.url, account).fine_tuning.jobs.list().data
    return job.model_dump()


def until_running(emu: RunningEmulator, account: str) -> dict:  # type: ignore[type-arg]
    for _ in range(200):
        job = only_job(emu, account)
        if job["status"] == "running":
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job never ran: {job['status']}")


# --- the v1 API and the versioned one -------------------------------------------------------


@pytest.mark.parametrize("api", ["v1", "2025-04-01-preview"])
def test_the_quickstart_runs_on_either_data_plane_api(
    api: str,
    use_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    specs = example("quickstart")
    edit(specs / "ftops.yaml", "  auth: entra\n", f"  auth: entra\n  dataPlaneApi: {api}\n")
    code, _, err = run(capsys, "apply", str(specs), "--emulator", "--yes", "--wait")
    assert code == 0, err
    log = httpx.get(f"{use_emulator.url}/_emulator/requests").json()["requests"]
    data = [r for r in log if r["plane"] == "data"]
    v1 = [r for r in data if "/openai/v1/" in r["path"]]
    assert data and len(v1) == (len(data) if api == "v1" else 0)
    versioned = {r["query"].get("api-version") for r in data if r not in v1}
    assert versioned <= {api}
    created = next(r for r in log if r["operation"] == "FineTuning_Create")
    assert created["request_body"]["metadata"]["ftops-project"] == "quickstart"
    writes = stats(use_emulator)["writes"]
    assert run(capsys, "apply", str(specs), "--emulator", "--yes", "--wait")[0] == 0
    assert stats(use_emulator)["writes"] == writes


# --- the plans of the new examples ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("global-training", ["trainingType: Global", "(Global tier)", "Global tier: × 0.8"]),
        ("developer-tier", ["trainingType: Developer", "(Developer tier)", "× 0.4"]),
        ("open-model", ["trainingType: Global", "train travel-oss on gpt-oss-20b (Global tier)"]),
        (
            "rft",
            [
                "method: reinforcement",
                "grader check maths-rft: python grader 'last-number': valid",
                "→ 1.0 h × $100.00/h ≈ $100.00; Azure pauses the job at $5,000",
            ],
        ),
    ],
)
def test_the_plan_shows_the_tier_the_grader_check_and_the_tier_cost(
    name: str,
    shown: list[str],
    use_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    code, out, err = run(capsys, "plan", str(example(name)), "--emulator", "--detailed-exitcode")
    assert code == 2, err
    for text in shown:
        assert text in out, out


# --- the catalog and the grader refuse before anything is written ---------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "code"),
    [
        ("open-model", "  kind: AIServices\n", "", "PREFLIGHT_ACCOUNT_KIND"),
        ("developer-tier", "gpt-4.1-mini-2025-04-14", "gpt-35-turbo-0125", "PREFLIGHT_TIER"),
        ("global-training", "region: westus3", "region: japaneast", None),
        ("global-training", "trainingType: Global", "trainingType: Standard", "PREFLIGHT_REGION"),
    ],
)
def test_a_combination_the_catalog_rules_out_fails_validate_and_plan(
    name: str,
    old: str,
    new: str,
    code: str | None,
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    specs = example(name)
    edit(specs / "ftops.yaml", old, new)
    if code is None:  # japaneast trains gpt-4.1 on the Global tier: a control case
        assert run(capsys, "validate", str(specs))[0] == 0
        return
    for command in ("validate", "plan"):
        status, out, err = run(capsys, command, str(specs), *(["--emulator"] * (command == "plan")))
        assert status == 1, out + err
        assert f"{name}/ftops.yaml:" in err and code in err, err
    assert stats(use_emulator)["writes"] == 0


def test_an_invalid_grader_fails_plan_before_any_write(
    use_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    specs = example("rft")
    edit(
        specs / "grader.py",
        "def grade(sample: dict, item: dict)",
        "def score(sample: dict, item: dict)",
    )
    code, out, err = run(capsys, "plan", str(specs), "--emulator")
    assert code == 1, out + err
    assert "GRADER_INVALID" in err and "grade" in err, err
    assert "rft/ftops.yaml:" in err
    code, out, err = run(capsys, "apply", str(specs), "--emulator", "--yes")
    assert code == 1 and "GRADER_INVALID" in err
    counted = stats(use_emulator)
    assert counted["operations"].get("Files_Upload") is None
    assert counted["writes"] == counted["operations"].get("Accounts_Create", 0) + counted[
        "operations"
    ].get("FineTuning_ValidateGrader", 0)


# --- paused jobs ----------------------------------------------------------------------------


def test_a_preempted_developer_job_stays_paused_until_the_spec_resumes_it(
    slow_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    specs = example("developer-tier")
    spec, account = specs / "ftops.yaml", "ftops-devtier-northcentralus"
    assert run(capsys, "apply", str(specs), "--emulator", "--yes", "--timeout", "20")[0] == 3
    job = until_running(slow_emulator, account)
    assert job["trainingType"] == "developerTier"  # as Microsoft Learn spells it
    preempt = httpx.post(f"{slow_emulator.url}/_emulator/jobs/{job['id']}/preempt")
    assert preempt.status_code == 200, preempt.text

    code, out, _ = run(capsys, "plan", str(specs), "--emulator", "--detailed-exitcode")
    assert code == 2
    assert "finetune/north/travel-dev" in out and "paused by Azure" in out
    assert "capacity was reclaimed" in out and "set `paused: false`" in out
    code, out, _ = run(capsys, "status", str(specs), "--emulator", "--format", "json")
    rows = json.loads(out)["resources"]
    row = next(r for r in rows if r["resource"] == "finetune/north/travel-dev")
    assert row["state"] == "paused by Azure" and "reclaimed" in row["detail"]

    code, _, err = run(capsys, "apply", str(specs), "--emulator", "--yes", "--wait")
    assert code == 3 and "held by a paused job" in err, err
    assert only_job(slow_emulator, account)["status"] == "paused"
    assert "FineTuning_Resume" not in stats(slow_emulator)["operations"]

    edit(spec, "  seed: 3", "  seed: 3\n  paused: false")
    code, out, _ = run(capsys, "plan", str(specs), "--emulator")
    assert "» finetune/north/travel-dev  resume" in out and "paused: true → false" in out
    assert run(capsys, "apply", str(specs), "--emulator", "--yes", "--timeout", "20")[0] == 3
    assert only_job(slow_emulator, account)["status"] in ("running", "resuming")
    assert stats(slow_emulator)["operations"]["FineTuning_Resume"] == 1


def test_an_rft_job_paused_at_the_cost_cap_offers_its_checkpoint(
    slow_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    url, account = slow_emulator.url, "ftops-rft-eastus2"
    cap = httpx.post(f"{url}/_emulator/settings", json={"rft_cost_cap_usd": 50})
    assert cap.status_code == 200, cap.text
    specs = example("rft")
    assert run(capsys, "apply", str(specs), "--emulator", "--yes", "--timeout", "20")[0] == 3
    until_running(slow_emulator, account)
    for _ in range(200):
        if only_job(slow_emulator, account)["status"] == "paused":
            break
        advance(slow_emulator, 600)
    assert only_job(slow_emulator, account)["status"] == "paused"
    code, out, _ = run(capsys, "plan", str(specs), "--emulator", "--detailed-exitcode")
    assert code == 2
    assert "paused by Azure: Job paused: the cost limit" in out
    assert (
        "deploy its latest checkpoint: `model: {fineTune: maths-rft, checkpoint: {epoch: 1}}`"
        in (out)
    )
    edit(
        specs / "ftops.yaml",
        "    fineTune: maths-rft\n",
        "    fineTune: maths-rft\n    checkpoint: {epoch: 1}\n",
    )
    code, out, err = run(capsys, "apply", str(specs), "--emulator", "--yes", "--timeout", "30")
    assert code == 3, out + err  # the checkpoint is deployed; the job itself stays paused
    deployment = next(
        d
        for d in httpx.get(f"{url}/_emulator/requests").json()["requests"]
        if d["operation"] == "Deployments_CreateOrUpdate"
    )
    assert ":ckpt-step-" in deployment["request_body"]["properties"]["model"]["name"]


# --- large files ----------------------------------------------------------------------------


def _large_dataset(path: Path, size: int) -> None:
    """Distinct examples behind one long system prompt, which token counting counts once (as
    real datasets repeat theirs): the bytes are large, the counting stays quick."""
    system = {"role": "system", "content": "You are a travel agent. " * 60}
    line = 0
    with path.open("w", encoding="utf-8") as out:
        while out.tell() < size:
            example = {
                "messages": [
                    system,
                    {"role": "user", "content": f"Where should I go in week {line}?"},
                    {"role": "assistant", "content": f"Lisbon, for week {line}."},
                ]
            }
            out.write(json.dumps(example) + "\n")
            line += 1


def test_a_150_mb_file_goes_through_the_uploads_api_once(
    fast_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    specs = example("quickstart")
    edit(specs / "ftops.yaml", "maxTrainingCostUsd: 50", "maxTrainingCostUsd: 5000")
    _large_dataset(specs / "data" / "travel.jsonl", 150 * 1024 * 1024)
    code, _, err = run(capsys, "apply", str(specs), "--emulator", "--yes", "--timeout", "120")
    assert code == 3, err  # uploaded and processed; the job trains on (for hours, simulated)
    counted = stats(fast_emulator)
    ops, uploads = counted["operations"], counted["uploads"]
    assert "Files_Upload" not in ops and (ops["UploadFile_Start"], ops["UploadFile_Part"]) == (1, 3)
    assert ops["UploadFile_Complete"] == 1 and ops["FineTuning_Create"] == 1
    assert (uploads["parts"], uploads["completed"]) == (3, 1)
    (uploaded,) = openai_client(fast_emulator.url, "ftops-quickstart-eastus2").files.list().data
    assert uploaded.filename.startswith("quickstart.travel.") and uploaded.status == "processed"
    assert uploaded.bytes == (specs / "data" / "travel.jsonl").stat().st_size
    writes = stats(fast_emulator)["writes"]
    assert run(capsys, "apply", str(specs), "--emulator", "--yes")[0] == 3
    assert stats(fast_emulator)["writes"] == writes


def test_an_upload_part_that_fails_is_retried_on_its_own(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.providers import azure

    # Small parts of a small file, so that the part path runs in a second, not on 150 MB.
    monkeypatch.setattr(azure, "UPLOADS_API_FROM_BYTES", 1024)
    monkeypatch.setattr(azure, "UPLOAD_PART_BYTES", 4096)
    faults = {"rules": [{"op": ["UploadFile_Part"], "500": 1, "times": 1}]}
    assert httpx.post(f"{use_emulator.url}/_emulator/faults", json=faults).status_code == 200
    specs = example("quickstart")
    code, _, err = run(capsys, "apply", str(specs), "--emulator", "--yes", "--wait")
    assert code == 0, err
    size = (specs / "data" / "travel.jsonl").stat().st_size
    parts = -(-size // 4096)
    counted = stats(use_emulator)
    assert counted["uploads"]["parts"] == parts and counted["uploads"]["completed"] == 1
    assert counted["operations"]["UploadFile_Part"] == parts + 1  # the faulted one, once more


def test_an_expired_developer_deployment_is_named_and_recreated(
    use_emulator: RunningEmulator,
    example,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    specs = str(example("developer-tier"))
    assert run(capsys, "apply", specs, "--emulator", "--yes", "--wait")[0] == 0
    advance(use_emulator, 25 * 3600)
    code, out, _ = run(capsys, "plan", specs, "--emulator", "--detailed-exitcode")
    assert code == 2
    assert "+ deployment/north/travel-dev  create" in out
    assert "reason: expired: Developer deployments last 24 hours" in out
    assert run(capsys, "apply", specs, "--emulator", "--yes", "--wait")[0] == 0
    assert run(capsys, "plan", specs, "--emulator", "--detailed-exitcode")[0] == 0
