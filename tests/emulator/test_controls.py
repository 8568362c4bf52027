"""The /_emulator controls: request log, operations, stats, clock, reset."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from reconciler.emulator.server import start_background
from tests.emulator.conftest import (
    BASE_MODEL,
    RG,
    advance,
    chat_lines,
    control,
    create_account,
    deployment_body,
)
from tests.helpers import arm_client, openai_client

SWAGGER_ROOT = Path(__file__).parents[1] / "contracts"  # the MIT-licensed swagger copies


def test_request_log_names_operations_and_keeps_bodies(
    emulator: Any, arm: Any, client: Any
) -> None:
    uploaded = client.files.create(
        file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    arm.deployments.begin_create_or_update(
        RG, "acct-east", "d", deployment_body("gpt-4o-mini")
    ).result()
    log = control(emulator, "requests")["requests"]
    upload = next(r for r in log if r["operation"] == "Files_Upload")
    assert upload["method"] == "POST" and upload["status"] == 201
    assert upload["path"] == "/acct-east/openai/files"
    assert upload["query"] == {"api-version": "2025-04-01-preview"}
    assert upload["response_body"]["id"] == uploaded.id
    put = next(r for r in log if r["operation"] == "Deployments_CreateOrUpdate")
    assert put["request_body"]["properties"]["model"]["name"] == "gpt-4o-mini"
    assert put["response_body"]["properties"]["provisioningState"] == "Creating"
    assert control(emulator, f"requests?since={log[-1]['seq']}")["requests"] == []


def test_operations_are_swagger_operation_ids(emulator: Any) -> None:
    operations = control(emulator, "operations")["operations"]
    for entry in operations:
        for swagger in entry["swagger"]:
            spec = json.loads((SWAGGER_ROOT / swagger).read_text())
            path = entry["swagger_path"]
            assert spec["paths"][path][entry["method"].lower()]["operationId"] == entry["operation"]
    names = {entry["operation"] for entry in operations}
    assert {
        "Files_Upload",
        "FineTuning_Create",
        "Deployments_CreateOrUpdate",
        "Accounts_Create",
    } <= names


def test_stats_count_writes_but_not_reads_or_controls(emulator: Any, arm: Any, client: Any) -> None:
    before = control(emulator, "stats")["writes"]
    client.files.list()
    arm.accounts.get(RG, "acct-east")
    control(emulator, "clock", {"advance_seconds": 1})
    assert control(emulator, "stats")["writes"] == before
    client.files.create(file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune")
    stats = control(emulator, "stats")
    assert stats["writes"] == before + 1 and stats["operations"]["Files_List"] == 1


def test_clock_and_reset(emulator: Any, arm: Any, client: Any) -> None:
    now = control(emulator, "clock")["now"]
    advance(emulator, 3600)
    assert control(emulator, "clock")["now"] >= now + 3600
    control(emulator, "reset", {})
    assert list(arm.accounts.list()) == []
    assert [r["operation"] for r in control(emulator, "requests")["requests"]] == ["Accounts_List"]


def test_default_time_scale_runs_a_quickstart_in_seconds(tmp_path: Path) -> None:
    """A quickstart-sized dataset (10 examples, ~6 KB), no clock control: it trains in a few
    seconds of wall time."""
    emulator = start_background(tmp_path / "s.sqlite")
    try:
        create_account(arm_client(emulator.url), "acct")
        client = openai_client(emulator.url, "acct")
        content = chat_lines(10, marker="x" * 450)
        uploaded = client.files.create(
            file=("travel.jsonl", content, "application/jsonl"), purpose="fine-tune"
        )
        client.files.wait_for_processing(uploaded.id, poll_interval=0.1)
        job = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=uploaded.id)
        started = time.monotonic()
        while client.fine_tuning.jobs.retrieve(job.id).status != "succeeded":
            assert time.monotonic() - started < 15
            time.sleep(0.2)
    finally:
        emulator.stop()
