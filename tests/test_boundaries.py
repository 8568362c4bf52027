"""The import-linter contracts bite: each breaks on a planted import, and they cover the package.

Each case copies `reconciler/` and pyproject.toml into tmp_path, appends one import to one module
and runs `lint-imports` there, with the copy first on PYTHONPATH (so the editable install of the
real tree is not what gets analysed). The copy without a plant must pass; a planted copy must fail
with exactly the contract the plant breaks. `lint-imports` takes well under a second here.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reconciler"

LAYERS = "Imports point down"
EMULATOR_INDEPENDENT = "The emulator is independent of the core"
CORE_WITHOUT_EMULATOR = "The core does not import the emulator"
PURE_CORE = "The pure core imports no SDK, no HTTP, no torch"
TRAINING_STACK = "Only reconciler.training imports the training stack"

# The emulator itself, and the two that start it (exempt for emulator.server alone, see below).
EMULATOR_IMPORTERS = {"reconciler.emulator", "reconciler.cli", "reconciler.bootstrap"}


def top_level_modules() -> list[str]:
    return sorted(f"reconciler.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)]))


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def module_file(root: Path, module: str) -> Path:
    """The file that holds `module` in the copy: a module file or a package's __init__."""
    base = root.joinpath(*module.split("."))
    as_module = base.with_suffix(".py")
    if as_module.is_file():
        return as_module
    as_package = base / "__init__.py"
    if as_package.is_file():
        return as_package
    raise AssertionError(f"{module} is neither {as_module} nor {as_package}")


def lint_copy(tmp_path: Path, plant: tuple[str, str] | None = None) -> tuple[int, str]:
    shutil.copytree(
        PACKAGE, tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if plant is not None:
        module, statement = plant
        target = module_file(tmp_path, module)
        with target.open("a", encoding="utf-8") as f:
            f.write(f"\n{statement}\n")
    linter = shutil.which("lint-imports")
    if linter is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [linter, "--no-cache", "--no-logo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def verdicts(output: str) -> dict[str, str]:
    found = re.findall(r"^(.+?) (KEPT|BROKEN)\b", output, flags=re.MULTILINE)
    return {name: verdict for name, verdict in found}


def test_the_unplanted_copy_passes(tmp_path: Path) -> None:
    code, output = lint_copy(tmp_path)
    assert code == 0, output
    assert set(verdicts(output)) == set(contracts()), output
    assert set(verdicts(output).values()) == {"KEPT"}, output


EMULATOR_PLANT = "from reconciler.emulator import server"
CORE_FAMILIES = [
    "reconciler.planning",
    "reconciler.plans",
    "reconciler.desired",
    "reconciler.applying",
    "reconciler.workspace",
    "reconciler.reading",
    "reconciler.estimating",
    "reconciler.localruns",
]
# Every other top-level module (providers, specs, datasets, fileio, …), so one added later is
# planted into as well.
OTHER_CORE = [m for m in top_level_modules() if m not in {*CORE_FAMILIES, *EMULATOR_IMPORTERS}]

CASES = [
    *[
        pytest.param(m, EMULATOR_PLANT, CORE_WITHOUT_EMULATOR, id=f"emulator-in-{m}")
        for m in CORE_FAMILIES
    ],
    *[
        pytest.param(m, EMULATOR_PLANT, CORE_WITHOUT_EMULATOR, id=f"emulator-in-{m}")
        for m in OTHER_CORE
    ],
    # The CLI's exemption is the one import of emulator.server, not the whole emulator.
    pytest.param(
        "reconciler.cli",
        "from reconciler.emulator import world",
        CORE_WITHOUT_EMULATOR,
        id="emulator-world-in-cli",
    ),
    pytest.param("reconciler.localruns", "import torch", TRAINING_STACK, id="torch-in-localruns"),
    pytest.param("reconciler.workspace", "import torch", TRAINING_STACK, id="torch-in-workspace"),
    pytest.param("reconciler.reading", "import peft", TRAINING_STACK, id="peft-in-reading"),
    pytest.param(
        "reconciler.estimating",
        "import transformers",
        TRAINING_STACK,
        id="transformers-in-estimating",
    ),
    pytest.param("reconciler.emulator.app", "import trl", TRAINING_STACK, id="trl-in-emulator"),
    pytest.param(
        "reconciler.emulator.app",
        "from reconciler import errors",
        EMULATOR_INDEPENDENT,
        id="errors-in-emulator",
    ),
    pytest.param(
        "reconciler.emulator.store",
        "from reconciler.specs import models",
        EMULATOR_INDEPENDENT,
        id="specs-in-emulator",
    ),
    pytest.param(
        "reconciler.planning", "from reconciler import applying", LAYERS, id="applying-in-planning"
    ),
    pytest.param(
        "reconciler.plans", "from reconciler import workspace", LAYERS, id="workspace-in-plans"
    ),
    pytest.param("reconciler.plans", "import openai", PURE_CORE, id="openai-in-plans"),
    pytest.param("reconciler.desired", "import httpx", PURE_CORE, id="httpx-in-desired"),
]
if "reconciler.fileio" in top_level_modules():
    CASES.append(
        pytest.param(
            "reconciler.emulator.files",
            "from reconciler import fileio",
            EMULATOR_INDEPENDENT,
            id="fileio-in-emulator",
        )
    )
if "reconciler.bootstrap" in top_level_modules():
    CASES += [
        # bootstrap is exempt for emulator.server alone ...
        pytest.param(
            "reconciler.bootstrap",
            "from reconciler.emulator import world",
            CORE_WITHOUT_EMULATOR,
            id="emulator-world-in-bootstrap",
        ),
        # ... and is no way round the contract for the rest of the core: the layers keep it
        # for the CLI.
        pytest.param(
            "reconciler.applying",
            "from reconciler import bootstrap",
            LAYERS,
            id="bootstrap-in-applying",
        ),
        pytest.param(
            "reconciler.planning",
            "from reconciler.bootstrap import connected",
            LAYERS,
            id="bootstrap-in-planning",
        ),
    ]


@pytest.mark.parametrize(("module", "statement", "contract"), CASES)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    code, output = lint_copy(tmp_path, plant=(module, statement))
    assert code != 0, output
    found = verdicts(output)
    broken = {name for name, verdict in found.items() if verdict == "BROKEN"}
    assert broken == {contract}, output
    assert set(found) == set(contracts()), output


def test_the_training_stack_contract_lists_every_module_but_training() -> None:
    # import-linter has no "every module but X", so the list is kept by hand; this keeps it whole.
    listed = set(contracts()[TRAINING_STACK]["source_modules"])
    expected = set(top_level_modules()) - {"reconciler.training"}
    assert sorted(expected - listed) == [], "add these to the contract's source_modules"
    assert sorted(listed - expected) == [], "these are not top-level modules of reconciler"


def test_the_wildcard_contracts_cover_every_module() -> None:
    found = contracts()
    assert found[EMULATOR_INDEPENDENT]["forbidden_modules"] == ["reconciler.*"]
    assert found[CORE_WITHOUT_EMULATOR]["source_modules"] == ["reconciler.*"]
    assert found[CORE_WITHOUT_EMULATOR]["forbidden_modules"] == ["reconciler.emulator"]
