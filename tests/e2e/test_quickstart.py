"""Issue 2's acceptance: plan → apply → plan on the emulator, through the real SDKs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx
import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.e2e.conftest import stats


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_apply_plan(use_emulator: RunningEmulator, example, capsys) -> None:  # type: ignore[no-untyped-def]
    specs = str(example("quickstart"))
    code, out, _ = run(capsys, "plan", specs, "--emulator", "--detailed-exitcode")
    assert code == 2
    assert "↑ file/main/travel  upload\n      reason: new: not uploaded to this account yet" in out
    assert "+ finetune/main/travel-v1  train\n      reason: new" in out
    assert "+ deployment/main/travel  create\n      reason: new" in out
    assert "model: (known after training)" in out
    assert "Estimates (not a quote):" in out

    code, _, err = run(
        capsys, "apply", specs, "--emulator", "--yes", "--wait", "--receipt", "receipt.json"
    )
    assert code == 0, err
    receipt = json.loads(Path("receipt.json").read_text())
    assert list(receipt["specs"]) == ["quickstart/ftops.yaml"]
    assert receipt["datasets"]["travel"] == (
        "13663c045ca59855" + receipt["datasets"]["travel"][16:]
    )
    assert receipt["converged"] and [d["action"] for d in receipt["done"]] == [
        "upload",
        "train",
        "create",
    ]

    code, out, _ = run(capsys, "plan", specs, "--emulator", "--detailed-exitcode")
    assert code == 0
    assert "No changes. The live state matches the specs." in out


def test_second_apply_writes_nothing(use_emulator: RunningEmulator, example, capsys) -> None:  # type: ignore[no-untyped-def]
    specs = str(example("quickstart"))
    assert run(capsys, "apply", specs, "--emulator", "--yes", "--wait")[0] == 0
    before = stats(use_emulator)
    code, _, _ = run(capsys, "apply", specs, "--emulator", "--yes", "--wait")
    after = stats(use_emulator)
    assert code == 0
    assert after["writes"] == before["writes"]
    assert after["operations"].get("Files_Upload") == before["operations"].get("Files_Upload") == 1


def test_apply_without_wait_exits_3_then_converges(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys,
) -> None:
    specs = str(example("quickstart"))
    code, _, err = run(capsys, "apply", specs, "--emulator", "--yes")
    assert code == 3, err
    assert "still in flight" in err
    code, _, _ = run(capsys, "apply", specs, "--emulator", "--yes", "--wait")
    assert code == 0


def test_plan_json_is_versioned(use_emulator: RunningEmulator, example, capsys) -> None:  # type: ignore[no-untyped-def]
    specs = str(example("quickstart"))
    code, out, _ = run(capsys, "plan", specs, "--emulator", "--format", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["format_version"] == 2 and plan["has_changes"]
    assert [c["action"] for c in plan["changes"]] == ["upload", "train", "create"]


def test_saved_plan_of_an_older_format_is_refused(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys,
    tmp_path: Path,
) -> None:
    specs = str(example("quickstart"))
    old = tmp_path / "v1.json"
    old.write_text(json.dumps({"format_version": 1, "project": "quickstart", "changes": []}))
    code, _, err = run(capsys, "apply", specs, "--emulator", "--yes", "--plan", str(old))
    assert code == 4
    assert "GUARD_BAD_SAVED_PLAN" in err and "Traceback" not in err


def test_saved_plan_is_refused_when_live_state_moved(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys,
) -> None:
    specs = str(example("quickstart"))
    assert run(capsys, "plan", specs, "--emulator", "--out", "plan.json")[0] == 0
    assert run(capsys, "apply", specs, "--emulator", "--yes")[0] == 3
    code, _, err = run(capsys, "apply", specs, "--emulator", "--yes", "--plan", "plan.json")
    assert code == 4
    assert "GUARD_STALE_PLAN" in err


def test_apply_converges_through_throttling_and_server_errors(
    tmp_path: Path,
    example,  # type: ignore[no-untyped-def]
    monkeypatch,
    capsys,
) -> None:
    from reconciler.emulator.server import start_background

    emu = start_background(
        state=tmp_path / "faulty.sqlite", faults="429=0.2,503=0.1;seed=3", arm_page_size=2
    )
    try:
        monkeypatch.setenv("FTOPS_EMULATOR_URL", emu.url)
        specs = str(example("quickstart"))
        code, _, err = run(capsys, "apply", specs, "--emulator", "--yes", "--wait")
        assert code == 0, err
        assert run(capsys, "plan", specs, "--emulator", "--detailed-exitcode")[0] == 0
        log = httpx.get(f"{emu.url}/_emulator/requests").json()
        entries = log["requests"] if isinstance(log, dict) else log
        assert sum(1 for r in entries if r["status"] in (429, 503)) > 3
    finally:
        emu.stop()


def test_second_plan_tokenizes_nothing(use_emulator: RunningEmulator, example, capsys) -> None:  # type: ignore[no-untyped-def]
    from reconciler.datasets import TOKENIZED

    specs = str(example("quickstart"))
    before = TOKENIZED.examples
    assert run(capsys, "plan", specs, "--emulator")[0] == 0
    first = TOKENIZED.examples
    assert first - before == 10  # the ten training examples, counted once
    code, out, _ = run(capsys, "plan", specs, "--emulator")
    assert code == 0 and "1,160 billable tokens" in out
    assert TOKENIZED.examples == first  # served from .ftops/cache, nothing tokenized


def test_budget_guard_refuses_before_anything_changes(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys,
) -> None:
    specs = example("quickstart")
    text = (
        (specs / "ftops.yaml")
        .read_text()
        .replace("maxTrainingCostUsd: 50", "maxTrainingCostUsd: 0.001")
    )
    (specs / "ftops.yaml").write_text(text)
    code, _, err = run(capsys, "plan", str(specs), "--emulator")
    assert code == 4 and "GUARD_BUDGET" in err
    writes = httpx.get(f"{use_emulator.url}/_emulator/stats").json()["writes"]
    code, _, err = run(capsys, "apply", str(specs), "--emulator", "--yes")
    assert code == 4 and "over the budget" in err
    assert httpx.get(f"{use_emulator.url}/_emulator/stats").json()["writes"] == writes
