"""Start-up: each command imports what it needs. Validating a JSONL file loads no SDK, planner or
plan renderer; planning local runs only loads no SDK and starts no emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("openai", "azure", "reconciler.providers.azure", "torch", "transformers", "pandas")

PROBE = """
import json, sys
from reconciler.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], set(result["modules"])


def sdks(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(SDKS))


def test_validating_a_jsonl_file_loads_no_sdk_and_no_planner(tmp_path: Path) -> None:
    data = ROOT / "examples" / "quickstart" / "data" / "travel.jsonl"
    code, modules = loaded(tmp_path, "validate", str(data))
    assert code == 0
    assert sdks(modules) == []
    assert not {"reconciler.planning", "reconciler.rendering.plans", "yaml"} & modules


def test_planning_local_runs_only_loads_no_sdk(tmp_path: Path) -> None:
    specs = tmp_path / "local-lora"
    shutil.copytree(ROOT / "examples" / "local-lora", specs)
    model = specs / "models" / "stand-in"  # planning hashes the files; it never loads them
    model.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (model / name).write_text("{}")
    spec = specs / "ftops.yaml"
    spec.write_text(
        spec.read_text().replace(
            "path: models/SmolLM2-135M-Instruct.Q4_1.gguf", "path: models/stand-in"
        )
    )
    code, modules = loaded(tmp_path, "plan", str(specs), "--emulator")
    assert code == 0 and "reconciler.planning" in modules  # it planned
    assert sdks(modules) == []
    assert "reconciler.emulator.server" not in modules  # no emulator started for no account
