"""Failures a user meets first are diagnostics: one located-or-global line with a hint, exit 1,
no traceback; no echo diagnostics after a YAML syntax error or a missing path."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def ftops(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "FTOPS_", "IDENTITY_", "MSI_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=base | (env or {}),
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    target = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", target)
    return target


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["plan", "status", "apply"])
def test_connection_refused_is_one_diagnostic(specs: Path, command: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    extra = ["--yes"] if command == "apply" else []
    result = ftops(command, str(specs), "--emulator", *extra, env={"FTOPS_EMULATOR_URL": url})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "CONNECTION_FAILED error:" in result.stderr and "connection refused" in result.stderr
    assert "hint:" in result.stderr


def test_no_credentials_is_one_diagnostic_with_a_hint(specs: Path) -> None:
    # Managed identity is pointed at a closed loopback port, so that nothing leaves the machine.
    env = {
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{closed_port()}/token",
        "IDENTITY_HEADER": "none",
        "PATH": "/usr/bin:/bin",  # no az, azd or pwsh
    }
    result = ftops("plan", str(specs), env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "AUTH_FAILED error:" in result.stderr
    assert "az login" in result.stderr and "--emulator" in result.stderr
    assert "Attempted credentials" not in result.stderr  # azure-identity's list, not ours
    assert len(result.stderr.splitlines()) <= 4


def test_a_busy_port_is_refused_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = ftops("emulator", "--port", str(port), "--state", str(tmp_path / "s.sqlite"))
    assert result.returncode == 1
    assert "ftops emulator on" not in result.stderr  # the banner says it listens: it does not
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_yaml_syntax_error_is_reported_alone_where_the_bracket_opens(specs: Path) -> None:
    text = (specs / "ftops.yaml").read_text()
    (specs / "ftops.yaml").write_text(
        text.replace("  name: main\nspec:", "  name: main\nspec: {a: [1, 2\n", 1)
    )
    line = next(
        i
        for i, ln in enumerate((specs / "ftops.yaml").read_text().splitlines(), 1)
        if "[1, 2" in ln
    )
    result = ftops("validate", str(specs))
    assert result.returncode == 1
    errors = [ln for ln in result.stderr.splitlines() if " error: " in ln]
    assert len(errors) == 1, result.stderr  # no SPEC_NO_PROJECT echo
    assert (
        f"ftops.yaml:{line}:11: SPEC_YAML_SYNTAX error: YAML syntax error: this '[' is not closed"
        in errors[0]
    )


def test_a_missing_path_is_one_error(tmp_path: Path) -> None:
    result = ftops("plan", "nowhere", "--emulator", cwd=tmp_path)
    assert result.returncode == 1
    assert [ln for ln in result.stderr.splitlines() if " error: " in ln] == [
        "nowhere: SPEC_PATH_NOT_FOUND error: nowhere does not exist"
    ]
    assert "Errno" not in result.stderr


def test_state_lives_beside_the_specs_outside_git(specs: Path, tmp_path: Path) -> None:
    """Run from elsewhere, plan sees the same embedded emulator world as apply did."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert (
        ftops("apply", str(specs), "--emulator", "--yes", "--wait", cwd=elsewhere).returncode == 0
    )
    assert (specs / ".ftops" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (elsewhere / ".ftops").exists()
    again = ftops("plan", str(specs), "--emulator", "--detailed-exitcode", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
