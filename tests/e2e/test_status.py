"""`ftops status`: a table per account of every declared resource and its live state; exit 2
out of sync under --detailed-exitcode; --watch redraws on a terminal and prints plain text,
without escape sequences, into a pipe."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.helpers import arm_client

SWEDEN = ("11111111-1111-1111-1111-111111111111", "ftops-chain", "ftops-chain-swedencentral")


@pytest.fixture
def chain(use_emulator: RunningEmulator, example) -> str:  # type: ignore[no-untyped-def]
    specs = str(example("chain-and-regions"))
    assert main(["apply", specs, "--emulator", "--yes", "--wait"]) == 0
    return specs


def test_status_shows_both_accounts_the_chain_and_the_copy(
    chain: str, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from azure.mgmt.cognitiveservices.models import PatchResourceTagsAndSku, Sku

    capsys.readouterr()
    assert main(["status", chain, "--emulator", "--detailed-exitcode"]) == 0
    text = capsys.readouterr().out
    assert "account eastus2" in text and "account swedencentral" in text
    for job in ("finetune/eastus2/travel-base", "finetune/eastus2/travel-hotel"):
        line = next(ln for ln in text.splitlines() if job in ln)
        assert "succeeded" in line and "step 20/20" in line and "loss 0." in line
    copy = next(ln for ln in text.splitlines() if "deployment/swedencentral/hotel" in ln)
    assert "from eastus2" in copy and "× 2" in copy and "in sync" in copy

    subscription, group, account = SWEDEN
    arm_client(use_emulator.url, subscription).deployments.begin_update(
        group, account, "hotel", PatchResourceTagsAndSku(sku=Sku(name="Standard", capacity=7))
    ).result()
    assert main(["status", chain, "--emulator", "--detailed-exitcode", "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["in_sync"] is False
    [row] = [r for r in report["resources"] if r["resource"] == "deployment/swedencentral/hotel"]
    assert row["sync"] == "update: changed outside ftops: sku.capacity 7 (live) → 2 (spec)"


def ftops(*argv: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *argv]


def test_watch_through_a_pipe_is_plain_text(chain: str, use_emulator: RunningEmulator) -> None:
    env = {**os.environ, "FTOPS_EMULATOR_URL": use_emulator.url, "CI": "true"}
    done = subprocess.run(
        ftops("status", chain, "--emulator", "--watch"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "in sync." in done.stdout
    assert "\x1b" not in done.stdout + done.stderr


def test_status_on_a_terminal_draws_a_table(chain: str, use_emulator: RunningEmulator) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"FTOPS_EMULATOR_URL": use_emulator.url, "TERM": "xterm-256color", "COLUMNS": "200"}
    text = run_on_a_terminal(ftops("status", chain, "--emulator", "--watch"), env)
    assert "\x1b[" in text  # styled for a terminal
    assert "┏" in text  # rich's table frame
    assert "deployment/swedencentral/hotel" in text


def run_on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=180) == 0, output.decode(errors="replace")[-2000:]
    return output.decode(errors="replace")


def test_apply_wait_draws_bars_on_a_terminal_and_plain_lines_in_a_pipe(
    use_emulator: RunningEmulator, example
) -> None:  # type: ignore[no-untyped-def]
    base = {k: v for k, v in os.environ.items() if k != "CI"} | {
        "FTOPS_EMULATOR_URL": use_emulator.url,
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }
    specs = str(example("quickstart"))
    text = run_on_a_terminal(ftops("apply", specs, "--emulator", "--yes", "--wait"), base)
    assert "finetune/main/travel-v1" in text and "━" in text  # a rich progress bar
    assert "\x1b[" in text

    other = str(example("chain-and-regions"))
    piped = subprocess.run(
        ftops("apply", other, "--emulator", "--yes", "--wait"),
        capture_output=True,
        text=True,
        env=base | {"CI": "true"},
        timeout=180,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stdout + piped.stderr
    waiting = [ln for ln in piped.stderr.splitlines() if "waiting: finetune/" in ln]
    assert waiting and all(ln.startswith("[") and ln[9] == "]" for ln in waiting)  # [HH:MM:SS]
