"""Injected faults against the SDKs' own retry behaviour."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from reconciler.emulator.faults import Faults
from reconciler.emulator.server import start_background
from tests.emulator.conftest import RG, chat_lines, control, create_account, deployment_body
from tests.helpers import arm_client, openai_client


def test_sdks_retry_through_30_percent_throttling(tmp_path: Path) -> None:
    emulator = start_background(tmp_path / "s.sqlite", faults="429=0.15,503=0.15;seed=3")
    try:
        arm = arm_client(emulator.url, retry_total=10)  # the SDK's default
        create_account(arm, "acct")
        client = openai_client(emulator.url, "acct", max_retries=2)  # the SDK's default
        for index in range(6):
            client.files.create(
                file=(f"{index}.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
            )
        assert len(client.files.list().data) == 6
        arm.deployments.begin_create_or_update(
            RG, "acct", "d", deployment_body("gpt-4o-mini")
        ).result()
        assert [d.name for d in arm.deployments.list(RG, "acct")] == ["d"]
        faults = [r["fault"] for r in control(emulator, "requests")["requests"] if r["fault"]]
        assert {"429", "503"} <= set(faults)
    finally:
        emulator.stop()


def test_dropped_connection_raises_the_sdk_connection_error(
    emulator: Any, arm: Any, make_openai: Any, account: str
) -> None:
    control(emulator, "faults", {"spec": "op=Files_List|Deployments_List,drop=1"})
    with pytest.raises(openai.APIConnectionError):
        make_openai(account).files.list()
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        list(arm.deployments.list(RG, account))
    assert make_openai(account).models.list().data  # other operations are untouched
    control(emulator, "faults", {})
    assert make_openai(account).files.list().data == []


def test_drop_after_commits_the_write_but_loses_the_answer(
    emulator: Any, make_openai: Any, account: str
) -> None:
    control(emulator, "faults", {"spec": "op=Files_Upload,drop_after=1"})
    client = make_openai(account)
    with pytest.raises(openai.APIConnectionError):
        client.files.create(
            file=("a.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        )
    assert [f.filename for f in client.files.list()] == ["a.jsonl"]


def test_500_without_retry_is_an_internal_server_error(
    emulator: Any, make_openai: Any, account: str
) -> None:
    control(emulator, "faults", {"rules": [{"op": ["Models_List"], "500": 1}]})
    with pytest.raises(openai.InternalServerError):
        make_openai(account).models.list()


def test_latency(emulator: Any, make_openai: Any, account: str) -> None:
    control(emulator, "faults", {"latency_ms": 150})
    started = time.monotonic()
    make_openai(account).files.list()
    assert time.monotonic() - started >= 0.15


def test_fault_spec_syntax() -> None:
    faults = Faults.parse(
        "429=0.3,503=0.1,latency_ms=50;op=Files_Upload|FineTuning_Create,drop=0.5;seed=7"
    )
    assert faults.seed == 7
    assert faults.default.p429 == 0.3 and faults.default.latency_ms == 50
    assert faults.rule_for("Files_Upload").drop == 0.5
    assert faults.rule_for("FineTuning_Create").drop == 0.5
    assert faults.rule_for("Files_List") is faults.default
    with pytest.raises(ValueError):
        Faults.parse("429=0.8,503=0.8")
    with pytest.raises(ValueError):
        Faults.parse("teapot=1")


def test_times_limits_a_group_to_that_many_faults() -> None:
    faults = Faults.parse("op=UploadFile_Part,500=1,times=1")
    outcomes = [faults.draw("UploadFile_Part")[1] for _ in range(3)]
    assert outcomes == ["500", None, None]
    assert faults.draw("Files_List")[1] is None
    with pytest.raises(ValueError):
        Faults.parse("500=1,times=-1")
