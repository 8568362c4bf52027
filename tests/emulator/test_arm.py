"""ARM accounts and deployments through the real azure-mgmt-cognitiveservices client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from reconciler.emulator.server import start_background
from tests.emulator.conftest import (
    RG,
    advance,
    control,
    create_account,
    deploy,
    deployment_body,
    trained_job,
)
from tests.helpers import SUBSCRIPTION, arm_client, openai_client

BASE = "gpt-4o-mini"
PROVIDER = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices"
)


def test_accounts_create_get_list(emulator: Any, arm: Any) -> None:
    for name in ("a1", "a2", "a3"):
        created = create_account(arm, name)
        assert created.properties.provisioning_state == "Succeeded"
        assert created.properties.endpoint == f"{emulator.url}/{name}"
    fetched = arm.accounts.get(RG, "a2")
    assert fetched.id == f"{PROVIDER}/accounts/a2"
    assert fetched.location == "eastus2" and fetched.kind == "OpenAI"
    assert [a.name for a in arm.accounts.list_by_resource_group(RG)] == [
        "a1",
        "a2",
        "a3",
    ]  # 2 pages
    assert len(list(arm.accounts.list())) == 3
    assert arm.accounts.list_keys(RG, "a1").key1
    assert any(m.name == BASE for m in arm.accounts.list_models(RG, "a1"))
    assert [u.name.value for u in arm.accounts.list_usages(RG, "a1").value]
    assert [s.sku.name for s in arm.accounts.list_skus(RG, "a1").value] == ["S0"]
    with pytest.raises(ResourceNotFoundError):
        arm.accounts.get(RG, "nope")


def test_deployment_put_get_list_patch_delete(emulator: Any, arm: Any, account: str) -> None:
    poller = arm.deployments.begin_create_or_update(RG, account, "base", deployment_body(BASE))
    deployment = poller.result()
    assert deployment.properties.provisioning_state == "Succeeded"
    assert deployment.properties.model.version == "2024-07-18"
    assert deployment.id.endswith(f"/accounts/{account}/deployments/base")
    for name in ("b2", "b3"):
        arm.deployments.begin_create_or_update(RG, account, name, deployment_body(BASE)).result()
    assert [d.name for d in arm.deployments.list(RG, account)] == ["b2", "b3", "base"]  # nextLink

    updated = arm.deployments.begin_update(
        RG, account, "base", {"sku": {"name": "Standard", "capacity": 5}, "tags": {"k": "v"}}
    ).result()
    assert updated.sku.capacity == 5 and updated.tags == {"k": "v"}
    assert arm.deployments.get(RG, account, "base").properties.current_capacity == 5
    assert [s.sku.name for s in arm.deployments.list_skus(RG, account, "base")]

    arm.deployments.begin_delete(RG, account, "base").result()
    with pytest.raises(ResourceNotFoundError) as caught:
        arm.deployments.get(RG, account, "base")
    assert caught.value.error.code == "DeploymentNotFound"
    arm.deployments.begin_delete(RG, account, "base").result()  # 204 when missing
    operations = {r["operation"] for r in control(emulator, "requests")["requests"]}
    assert {"OperationStatuses_Get", "OperationResults_Get"} <= operations


def test_lro_headers_are_absolute_with_api_version(emulator: Any, account: str) -> None:
    path = f"{PROVIDER}/accounts/{account}/deployments/d"
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    put = _raw(
        f"{emulator.url}{path}?api-version=2025-09-01", "PUT", headers, deployment_body(BASE)
    )
    assert put.status == 201
    status_url = put.headers["Azure-AsyncOperation"]
    assert status_url.startswith(
        f"{emulator.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CognitiveServices/locations/eastus2/operationStatuses/"
    )
    assert status_url.endswith("?api-version=2025-09-01")
    status = json.loads(_raw(status_url, "GET", headers).read())
    assert status["status"] in ("InProgress", "Succeeded") and status["name"]


def _raw(url: str, method: str, headers: dict[str, str], body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        return urllib.request.urlopen(request)  # loopback
    except urllib.error.HTTPError as error:
        return error


def test_concurrent_child_operations_conflict(tmp_path: Path) -> None:
    slow = start_background(tmp_path / "slow.sqlite", time_scale=1.0)
    try:
        arm = arm_client(slow.url)
        create_account(arm, "acct")
        arm.deployments.begin_create_or_update(
            RG, "acct", "one", deployment_body(BASE), polling=False
        )
        with pytest.raises(ResourceExistsError) as caught:
            arm.deployments.begin_create_or_update(
                RG, "acct", "two", deployment_body(BASE), polling=False
            )
        assert caught.value.error.code == "RequestConflict"
        with pytest.raises(ResourceExistsError):
            arm.deployments.begin_delete(RG, "acct", "one", polling=False)
        assert arm.deployments.get(RG, "acct", "one").properties.provisioning_state == "Creating"
        advance(slow, 60)
        assert arm.deployments.get(RG, "acct", "one").properties.provisioning_state == "Succeeded"
        arm.deployments.begin_create_or_update(
            RG, "acct", "two", deployment_body(BASE), polling=False
        )
    finally:
        slow.stop()


def test_fine_tuned_and_checkpoint_deployments(
    emulator: Any, arm: Any, make_openai: Any, account: str
) -> None:
    client = make_openai(account)
    job = trained_job(emulator, client)
    deployed = arm.deployments.begin_create_or_update(
        RG, account, "ft", deployment_body(job.fine_tuned_model)
    ).result()
    assert deployed.properties.model.name == job.fine_tuned_model
    assert deployed.properties.version_upgrade_option == "NoAutoUpgrade"
    checkpoint = next(iter(client.fine_tuning.jobs.checkpoints.list(job.id)))
    ckpt = deployment_body(checkpoint.fine_tuned_model_checkpoint)
    assert (
        arm.deployments.begin_create_or_update(RG, account, "ckpt", ckpt)
        .result()
        .properties.provisioning_state
        == "Succeeded"
    )
    answer = client.chat.completions.create(
        model="ft", messages=[{"role": "user", "content": "Paris?"}]
    )
    assert "Paris?" in answer.choices[0].message.content
    stream = client.chat.completions.create(
        model="ft",
        messages=[{"role": "user", "content": "Paris?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and streamed == answer.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    with pytest.raises(HttpResponseError) as caught:
        arm.deployments.begin_create_or_update(
            RG, account, "bad", deployment_body(f"{job.fine_tuned_model}x")
        ).result()
    assert caught.value.error.code == "DeploymentModelNotFound"


def test_model_and_capacity_cannot_change_together(emulator: Any, arm: Any, account: str) -> None:
    arm.deployments.begin_create_or_update(RG, account, "d", deployment_body(BASE)).result()
    changed = deployment_body("gpt-4o", capacity=3)
    changed["properties"]["model"]["version"] = "2024-08-06"
    with pytest.raises(HttpResponseError) as caught:
        arm.deployments.begin_create_or_update(RG, account, "d", changed).result()
    assert caught.value.status_code == 400


def test_fine_tuned_deployment_limit(
    emulator: Any, arm: Any, make_openai: Any, account: str
) -> None:
    job = trained_job(emulator, make_openai(account))
    for index in range(5):
        deploy(emulator, arm, account, f"d{index}", deployment_body(job.fine_tuned_model))
    with pytest.raises(HttpResponseError) as caught:
        arm.deployments.begin_create_or_update(
            RG, account, "d5", deployment_body(job.fine_tuned_model)
        ).result()
    assert caught.value.error.code == "QuotaExceeded"


def test_cross_region_copy_records_the_source(emulator: Any, arm: Any, make_openai: Any) -> None:
    source = create_account(arm, "train-east", location="eastus2")
    create_account(arm, "serve-west", location="westus3")
    job = trained_job(emulator, make_openai("train-east"))
    with pytest.raises(HttpResponseError) as caught:  # not in the target account itself
        arm.deployments.begin_create_or_update(
            RG, "serve-west", "copy", deployment_body(job.fine_tuned_model)
        ).result()
    assert caught.value.error.code == "DeploymentModelNotFound"
    body = deployment_body(job.fine_tuned_model, source=source.id)
    copied = arm.deployments.begin_create_or_update(RG, "serve-west", "copy", body).result()
    assert copied.properties.model.source == source.id
    assert arm.deployments.get(RG, "serve-west", "copy").properties.model.source == source.id


def test_cross_tenant_copy_needs_the_auxiliary_token(
    emulator: Any, arm: Any, make_openai: Any
) -> None:
    source = create_account(arm, "tenant-a", tenant="aaaaaaaa-0000-0000-0000-000000000000")
    create_account(arm, "tenant-b", tenant="bbbbbbbb-0000-0000-0000-000000000000")
    job = trained_job(emulator, make_openai("tenant-a"))
    body = deployment_body(job.fine_tuned_model, sourceAccount=source.id)
    with pytest.raises(ClientAuthenticationError) as caught:
        arm.deployments.begin_create_or_update(RG, "tenant-b", "x", body).result()
    assert caught.value.error.code == "InvalidAuthenticationTokenTenant"
    headers = {"x-ms-authorization-auxiliary": "Bearer token-for-tenant-a"}
    copied = arm.deployments.begin_create_or_update(
        RG, "tenant-b", "x", body, headers=headers
    ).result()
    assert copied.properties.model.source_account == source.id


def test_idle_fine_tuned_deployments_are_deleted_after_15_days(
    emulator: Any, arm: Any, make_openai: Any, account: str
) -> None:
    client = make_openai(account)
    job = trained_job(emulator, client)
    deploy(emulator, arm, account, "idle", deployment_body(job.fine_tuned_model))
    deploy(emulator, arm, account, "busy", deployment_body(job.fine_tuned_model))
    deploy(emulator, arm, account, "base", deployment_body(BASE))
    advance(emulator, 10 * 86400)
    client.chat.completions.create(model="busy", messages=[{"role": "user", "content": "hi"}])
    advance(emulator, 6 * 86400)
    assert [d.name for d in arm.deployments.list(RG, account)] == ["base", "busy"]


def test_developer_tier_deployments_are_deleted_after_24_hours(
    emulator: Any, arm: Any, make_openai: Any, account: str
) -> None:
    client = make_openai(account)
    job = trained_job(emulator, client)
    deploy(
        emulator, arm, account, "dev", deployment_body(job.fine_tuned_model, sku="DeveloperTier")
    )
    deploy(emulator, arm, account, "std", deployment_body(job.fine_tuned_model))
    advance(emulator, 23 * 3600)
    client.chat.completions.create(model="dev", messages=[{"role": "user", "content": "hi"}])
    assert [d.name for d in arm.deployments.list(RG, account)] == ["dev", "std"]
    advance(emulator, 3600)  # traffic does not keep it: 24 hours after its creation it is gone
    assert [d.name for d in arm.deployments.list(RG, account)] == ["std"]


def test_out_of_band_changes_are_visible(emulator: Any, arm: Any, account: str) -> None:
    """What a person in the portal does shows up in the next read (no caching)."""
    arm.deployments.begin_create_or_update(RG, account, "d", deployment_body(BASE)).result()
    portal = arm_client(emulator.url)
    portal.deployments.begin_update(
        RG, account, "d", {"sku": {"name": "Standard", "capacity": 7}}
    ).result()
    assert next(iter(arm.deployments.list(RG, account))).sku.capacity == 7
    portal.deployments.begin_delete(RG, account, "d").result()
    assert list(arm.deployments.list(RG, account)) == []


def test_arm_requires_bearer_and_api_version(emulator: Any, account: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        arm_client(emulator.url, api_version="2019-01-01").deployments.list(RG, account).next()
    assert caught.value.error.code == "InvalidApiVersionParameter"
    assert openai_client(emulator.url, account).files.list().data == []
