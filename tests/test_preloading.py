"""The specs load in a forked child while the CLI imports the SDKs: the plan is the plan the
CLI makes without the child, errors read the same, and specs that never talk to Azure neither
fork nor import the SDKs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import preloading
from reconciler.cli import main
from reconciler.datasets.parallel import can_fork
from reconciler.emulator.server import RunningEmulator

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, os, sys
from reconciler import preloading
forks = []
fork = os.fork
def counted():
    pid = fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = counted
from reconciler.cli import main
from reconciler.datasets.parallel import can_fork
code = main(sys.argv[1:])
print(json.dumps({"code": code, "forks": len(forks)}))
"""


def cli(cwd: Path, url: str, *args: str) -> tuple[int, int, str, str]:
    """Exit code, forks, stdout (without the probe's line) and stderr of one CLI process."""
    env = {**__import__("os").environ, "FTOPS_EMULATOR_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, env=env
    )
    *out, last = done.stdout.strip().splitlines()
    result = json.loads(last)
    return result["code"], result["forks"], "\n".join(out), done.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path / "quickstart")
    return tmp_path


def test_the_plan_loaded_in_a_child_is_the_plan_loaded_here(
    repo: Path, emulator: RunningEmulator, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    code, forks, out, err = cli(
        repo, emulator.url, "plan", "quickstart", "--emulator", "--format", "json"
    )
    assert (code, forks) == (0, 1), err
    monkeypatch.chdir(repo)
    monkeypatch.setenv("FTOPS_EMULATOR_URL", emulator.url)
    assert not can_fork()  # this process runs the emulator's threads: no child
    assert main(["plan", "quickstart", "--emulator", "--format", "json"]) == 0
    here = json.loads(capsys.readouterr().out)
    assert json.loads(out) == here


def test_a_spec_error_reads_as_it_does_without_the_child(
    repo: Path, emulator: RunningEmulator, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    spec = repo / "quickstart" / "ftops.yaml"
    spec.write_text(spec.read_text().replace("trainingData: travel", "trainingData: travle"))
    code, forks, _, err = cli(repo, emulator.url, "plan", "quickstart", "--emulator")
    assert (code, forks) == (1, 1)
    monkeypatch.chdir(repo)
    assert main(["plan", "quickstart", "--emulator"]) == 1
    assert err == capsys.readouterr().err
    assert "SPEC_UNKNOWN_REFERENCE" in err


def test_specs_that_never_talk_to_azure_do_not_fork(repo: Path) -> None:
    assert preloading._talks_to_azure([repo / "quickstart"])
    local = repo / "local"
    local.mkdir()
    (local / "ftops.yaml").write_text(
        "apiVersion: ftops/v1\nkind: Project\nmetadata: {name: local}\n"
        "# kind: Account in a comment is not a document\n"
    )
    assert not preloading._talks_to_azure([local])
    code, forks, _, err = cli(repo, "http://127.0.0.1:9", "plan", "local", "--emulator")
    assert (code, forks) == (0, 0), err
