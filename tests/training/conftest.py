"""Fixtures for local-run tests: a tiny base model and toy data, built offline once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler import localruns
from reconciler.specs.models import LocalRunSpec
from tests.training import tiny


@dataclass
class Workspace:
    """A repo root holding the tiny base model and the toy datasets."""

    root: Path
    base: str = "models/tiny"
    train: str = "data/train.jsonl"
    valid: str = "data/valid.jsonl"
    dpo: str = "data/dpo.jsonl"

    def spec(self, **overrides: Any) -> LocalRunSpec:
        doc: dict[str, Any] = {
            "baseModel": {"path": self.base},
            "method": "sft",
            "trainingData": "train",
            "validationData": "valid",
            "adapter": {"r": 8, "alpha": 16, "dropout": 0.05},
            "hyperparameters": {
                "maxSteps": 12,
                "batchSize": 8,
                "perDeviceBatchSize": 4,
                "learningRate": 3e-3,
                "maxSeqLen": 128,
                "precision": "fp32",
                "seed": 42,
            },
            "compute": {"device": "cpu"},
            "outputs": {"evalEverySteps": 4, "saveEverySteps": 4, "keepCheckpoints": "all"},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        return LocalRunSpec.model_validate(doc)

    def paths(self, spec: LocalRunSpec) -> tuple[Path, Path | None]:
        if spec.method == "dpo":
            return self.root / self.dpo, None
        valid = self.root / self.valid if spec.validation_data else None
        return self.root / self.train, valid

    def resolve(self, name: str, spec: LocalRunSpec) -> tuple[str, dict[str, Any], Path]:
        """What the planner does: digests → key → run dir and the resolved spec for the runner."""
        train, valid = self.paths(spec)
        digests = localruns.compute_digests(spec, self.root, train, valid)
        key = localruns.run_key(spec, digests)
        resolved = localruns.resolved_run_spec(
            name, spec, key, digests, root=self.root, train_path=train, valid_path=valid
        )
        return key, resolved, localruns.run_dir(self.root, name, key)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base model + data, built once; each test copies it (a few hundred KB)."""
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    root = tmp_path_factory.mktemp("tiny-source")
    rows = tiny.chat_rows(64, seed=1)
    tiny.write_jsonl(root / "data/train.jsonl", rows)
    tiny.write_jsonl(root / "data/valid.jsonl", tiny.chat_rows(16, seed=2))
    tiny.write_jsonl(root / "data/dpo.jsonl", tiny.dpo_rows(32, seed=3))
    tiny.build_base(root / "models/tiny", rows)
    return root


@pytest.fixture
def workspace(tiny_source: Path, tmp_path: Path) -> Workspace:
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(tiny_source, root)
    return Workspace(root=root)


@dataclass(frozen=True)
class Applied:
    """What one `ftops apply --wait` of a LocalRun did: its planned change, the run, its state."""

    change: Any
    run: Path
    state: localruns.LocalRunState


def apply_run(
    ws: Workspace,
    name: str,
    spec: LocalRunSpec,
    *,
    env: dict[str, str] | None = None,
    timeout_s: float = 240,
    retry_failed: bool = False,
) -> Applied:
    """Apply a spec set holding this LocalRun the way the CLI does: load the workspace, plan,
    and run the applier with the local provider (no cloud accounts)."""
    from reconciler.applying import ApplyOptions
    from reconciler.planning import PlanOptions
    from reconciler.session import Quiet, applier_for
    from reconciler.workspace import load_workspace

    specs = write_specs(ws, name, spec)
    loaded = load_workspace([specs], count_tokens=False)
    options = ApplyOptions(
        wait=True, timeout_s=timeout_s, plan_options=PlanOptions(retry_failed=retry_failed)
    )
    progress = Quiet()
    applier_for(loaded, None, progress, options, local_env=env).run()
    [change] = [c for c in progress.first.changes if str(c.address) == f"localrun/{name}"]
    run = localruns.run_dir(ws.root, name, loaded.desired.local_runs[0].key)
    return Applied(change=change, run=run, state=localruns.read_run_state(run, verify=True))


def write_specs(ws: Workspace, name: str, spec: LocalRunSpec) -> Path:
    """A Project, the toy datasets and the LocalRun, as YAML in the workspace root."""
    import yaml

    body = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    if spec.method == "dpo":
        body["trainingData"] = "dpo"
    docs = [
        {"kind": "Project", "metadata": {"name": "local"}},
        *(
            {"kind": "Dataset", "metadata": {"name": n}, "spec": {"path": p}}
            for n, p in (("train", ws.train), ("valid", ws.valid), ("dpo", ws.dpo))
        ),
        {"kind": "LocalRun", "metadata": {"name": name}, "spec": body},
    ]
    path = ws.root / "ftops.yaml"
    path.write_text(yaml.safe_dump_all([{"apiVersion": "ftops/v1", **d} for d in docs]))
    return path


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator of this test's own, its URL in $FTOPS_EMULATOR_URL (what the CLI and
    `connected` use), for the Azure ML tests here."""
    from reconciler.emulator import server as emulator_server

    running = emulator_server.start_background(state=tmp_path / "emulator.sqlite")
    monkeypatch.setenv("FTOPS_EMULATOR_URL", running.url)
    try:
        yield running.url
    finally:
        running.stop()
