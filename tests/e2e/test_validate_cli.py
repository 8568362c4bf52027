"""`ftops validate`: three kinds of problem, one run, right lines and columns, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main

SPECS = """\
apiVersion: ftops/v1
kind: Project
metadata: {name: demo}
---
apiVersion: ftops/v1
kind: Account
metadata: {name: main}
spec: {subscription: s, resourceGroup: rg, accountName: acct, region: eastus2}
---
apiVersion: ftops/v1
kind: Dataset
metadata: {name: travel}
spec: {path: travel.jsonl}
---
apiVersion: ftops/v1
kind: FineTune
metadata: {name: a}
spec:
  account: main
  baseModel: {fineTune: b}
  trainingData: travel
  learningRate: 0.1
---
apiVersion: ftops/v1
kind: FineTune
metadata: {name: b}
spec:
  account: main
  baseModel: {fineTune: a}
  trainingData: travel
---
apiVersion: ftops/v1
kind: Deployment
metadata: {name: web}
spec:
  account: main
  model: {fineTune: missing-one}
"""


def test_three_problems_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ftops.yaml").write_text(SPECS)
    (tmp_path / "travel.jsonl").write_text("")
    code = main(["validate", str(tmp_path / "ftops.yaml"), "--format", "json"])
    found = json.loads(capsys.readouterr().out)
    assert code == 1
    located = sorted((d["code"], d["line"], d["column"]) for d in found)
    assert located == [
        ("SPEC_CHAIN_CYCLE", 29, 25),
        ("SPEC_UNKNOWN_FIELD", 22, 3),
        ("SPEC_UNKNOWN_REFERENCE", 37, 21),
    ]
    assert all(d["hint"] for d in found)
    cycle = next(d for d in found if d["code"] == "SPEC_CHAIN_CYCLE")["message"]
    assert cycle == "continuous fine-tune chain has a cycle: b → a → b"


def test_text_output_has_locations_and_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ftops.yaml").write_text(SPECS)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'ftops.yaml'}:22:3: SPEC_UNKNOWN_FIELD error:" in err
    assert "  hint: allowed fields here:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("link", [False, True])
def test_dataset_paths_stay_inside_the_repository(
    tmp_path: Path, link: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"messages": []}\n')
    path = "../secret.jsonl"
    if link:  # a symlink inside the repo that points out of it is refused too
        (repo / "data.jsonl").symlink_to(outside)
        path = "data.jsonl"
    specs = SPECS.split("---\napiVersion: ftops/v1\nkind: FineTune")[0].replace(
        "travel.jsonl", path
    )
    specs += (
        "---\napiVersion: ftops/v1\nkind: FineTune\nmetadata: {name: a}\nspec:\n"
        "  account: main\n  baseModel: gpt-4o-mini-2024-07-18\n  trainingData: travel\n"
    )
    (repo / "ftops.yaml").write_text(specs)
    assert main(["validate", str(repo), "--format", "json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)
    assert problem["code"] == "DATASET_OUTSIDE_REPO" and problem["line"] == 13
