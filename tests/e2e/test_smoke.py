"""A deployment's smokeTest: after apply changed it, one chat completion through the SDK; the
answer's first line and latency are reported (and in the receipt); a wrong answer fails apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator

SMOKE = """  smokeTest:
    messages: [{role: user, content: "What is the capital of France?"}]
    expect: {expect}
"""


def with_smoke_test(specs: Path, expect: str) -> None:
    path = specs / "ftops.yaml"
    path.write_text(path.read_text().rstrip("\n") + "\n" + SMOKE.replace("{expect}", expect))


def test_a_passing_smoke_test_is_reported_and_recorded(
    use_emulator: RunningEmulator, example, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    with_smoke_test(specs, "capital of france")  # the emulator echoes the question
    receipt = tmp_path / "receipt.json"
    code = main(["apply", str(specs), "--emulator", "--yes", "--wait", "--receipt", str(receipt)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "deployment/main/travel: smoke test answered in " in err
    [smoke] = json.loads(receipt.read_text())["smoke_tests"]
    assert smoke["address"] == "deployment/main/travel" and "France" in smoke["answer"]
    assert smoke["latency_ms"] >= 0
    # Nothing changed on the next apply: no chat completion is sent again.
    assert (
        main(["apply", str(specs), "--emulator", "--yes", "--wait", "--receipt", str(receipt)]) == 0
    )
    assert json.loads(receipt.read_text())["smoke_tests"] == []


def test_a_wrong_answer_fails_the_apply(
    use_emulator: RunningEmulator, example, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    with_smoke_test(specs, "Lisbon")
    assert main(["apply", str(specs), "--emulator", "--yes", "--wait"]) == 1
    err = capsys.readouterr().err
    assert "SMOKE_TEST_FAILED error:" in err and "lacks 'Lisbon'" in err
    assert "ftops.yaml:" in err and "Traceback" not in err
