"""The standing checks, run with the tests so CI enforces them: lint, types, layering."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_is_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", "reconciler", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run(
        sys.executable, "-m", "ruff", "format", "--check", "reconciler", "tests", "benchmarks"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_point_down() -> None:
    linter = shutil.which("lint-imports")
    if linter is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    result = run(linter)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr
