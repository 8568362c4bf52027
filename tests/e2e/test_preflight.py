"""Pre-flight: a plan that would fail halfway through apply on a known limit fails as a plan
(exit 1, the limit, the usage and the source of the number named, nothing written), and
`validate` catches the catalog's cases offline, without credentials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.e2e.conftest import EXAMPLES, stats

DATA = EXAMPLES / "quickstart" / "data" / "travel.jsonl"
HEAD = """\
apiVersion: ftops/v1
kind: Project
metadata: {name: limits}
---
apiVersion: ftops/v1
kind: Account
metadata: {name: main}
spec:
  subscription: 00000000-0000-0000-0000-000000000000
  resourceGroup: ftops-limits
  accountName: ftops-limits-{region}
  region: {region}
"""


def dataset(name: str) -> str:
    return (
        f"---\napiVersion: ftops/v1\nkind: Dataset\nmetadata: {{name: {name}}}\n"
        f"spec: {{path: data/{name}.jsonl}}\n"
    )


def fine_tune(
    name: str,
    data: str,
    *,
    seed: int = 42,
    base: str = "gpt-4o-mini-2024-07-18",
    method: str = "supervised",
) -> str:
    return (
        f"---\napiVersion: ftops/v1\nkind: FineTune\nmetadata: {{name: {name}}}\nspec:\n"
        f"  account: main\n  baseModel: {base}\n  trainingData: {data}\n"
        f"  method: {{type: {method}}}\n  seed: {seed}\n"
    )


def deployment(name: str, fine_tune: str) -> str:
    return (
        f"---\napiVersion: ftops/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n"
        f"  account: main\n  model: {{fineTune: {fine_tune}}}\n"
    )


def write(tmp_path: Path, body: str, datasets: list[str], region: str = "swedencentral") -> Path:
    specs = tmp_path / "repo" / "limits"
    (specs / "data").mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir(exist_ok=True)
    for i, name in enumerate(datasets):
        lines = DATA.read_text().splitlines()
        shutil.copyfile(DATA, specs / "data" / f"{name}.jsonl")
        (specs / "data" / f"{name}.jsonl").write_text(
            "\n".join([*lines, lines[i % len(lines)]]) + "\n"
        )
    (specs / "ftops.yaml").write_text(HEAD.replace("{region}", region) + body)
    return specs


def failing_plan(specs: Path, emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]) -> str:
    main(["plan", str(specs), "--emulator"])  # creates the emulator's account on first use
    capsys.readouterr()
    writes = stats(emulator)["writes"]
    code = main(["plan", str(specs), "--emulator"])
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    assert "ftops will perform" not in captured.out + captured.err  # no action list
    code = main(["apply", str(specs), "--emulator", "--yes"])
    assert code == 1
    assert stats(emulator)["writes"] == writes  # nothing written, by plan or apply
    return captured.err + capsys.readouterr().err


def test_six_fine_tuned_deployments_in_one_account(
    tmp_path: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    body = dataset("travel") + fine_tune("travel-v1", "travel")
    body += "".join(deployment(f"travel-{i}", "travel-v1") for i in range(6))
    err = failing_plan(write(tmp_path, body, ["travel"]), use_emulator, capsys)
    assert "LIMIT_FINE_TUNED_DEPLOYMENTS error:" in err
    assert "needs 6 fine-tuned deployments (0 in use + 6 planned); the limit is 5" in err
    assert "source: account usage OpenAI.FineTunedDeployments" in err  # the emulator reports it


def test_twenty_one_queued_jobs(
    tmp_path: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    body = dataset("travel") + "".join(fine_tune(f"t{i}", "travel", seed=i) for i in range(21))
    err = failing_plan(write(tmp_path, body, ["travel"]), use_emulator, capsys)
    assert "LIMIT_QUEUED_JOBS error:" in err
    assert (
        "needs 21 queued or running fine-tuning jobs (0 in use + 21 planned); the limit is 20"
        in err
    )
    assert "quotas-limits" in err  # no usage reports it: the documented number, with its page


def test_fifty_one_files(
    tmp_path: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"d{i}" for i in range(51)]
    body = "".join(dataset(n) for n in names)
    body += "".join(fine_tune(f"t{i}", n, seed=i) for i, n in enumerate(names))
    err = failing_plan(write(tmp_path, body, names), use_emulator, capsys)
    assert "LIMIT_FILES error:" in err
    assert "needs 51 fine-tuning files (0 in use + 51 planned); the limit is 50" in err


@pytest.mark.parametrize(
    ("region", "base", "method", "code"),
    [
        ("mars", "gpt-4o-mini-2024-07-18", "supervised", "PREFLIGHT_UNKNOWN_REGION"),
        ("swedencentral", "gpt-4o-mini-2024-07-19", "supervised", "PREFLIGHT_UNKNOWN_MODEL"),
        ("westus", "gpt-35-turbo-0125", "supervised", "PREFLIGHT_REGION"),
        ("swedencentral", "gpt-4o-mini-2024-07-18", "dpo", "PREFLIGHT_METHOD"),
    ],
)
def test_validate_catches_the_catalog_cases_offline(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    base: str,
    method: str,
    code: str,
) -> None:
    monkeypatch.setenv("FTOPS_EMULATOR_URL", "http://127.0.0.1:9")  # nothing may be contacted
    body = dataset("travel") + fine_tune("travel-v1", "travel", base=base, method=method)
    specs = write(tmp_path, body, ["travel"], region=region)
    assert main(["validate", str(specs)]) == 1
    err = capsys.readouterr().err
    assert f"{code} error:" in err and "hint:" in err
