"""Job options: `metadata` (and the list filter), `trainingType`, and the catalog rules of the
training tiers and the open models (AIServices accounts only)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from reconciler.emulator.server import RunningEmulator, start_background
from tests.emulator.conftest import BASE_MODEL, RG, chat_lines, create_account, upload_processed

OPEN_MODELS = ("Ministral-3B", "Qwen-32B", "Llama-3.3-70B-Instruct", "gpt-oss-20b")
_ACCOUNTS = itertools.count()


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator for the module (a slow clock: jobs stay pending), an account per test."""
    path = tmp_path_factory.mktemp("options") / "emulator.sqlite"
    running = start_background(path, time_scale=10.0, record_bodies=True)
    yield running
    running.stop()


@pytest.fixture
def emulator(shared_emulator: RunningEmulator) -> RunningEmulator:
    return shared_emulator


@pytest.fixture
def account(arm: Any) -> str:
    name = f"acct-options-{next(_ACCOUNTS)}"
    create_account(arm, name)
    return name


@pytest.fixture
def training_file(emulator: Any, client: Any) -> str:
    return str(upload_processed(emulator, client, chat_lines()).id)


def _create(client: Any, training_file: str, **kwargs: Any) -> Any:
    model = kwargs.pop("model", BASE_MODEL)
    return client.fine_tuning.jobs.create(model=model, training_file=training_file, **kwargs)


def _target(client: Any, training_file: str, **kwargs: Any) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        _create(client, training_file, **kwargs)
    return str(caught.value.body["target"])


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_is_stored_returned_and_filtered(client: Any, training_file: str) -> None:
    a = _create(client, training_file, metadata={"team": "travel", "stage": "dev"})
    b = _create(client, training_file, metadata={"team": "travel", "stage": "prod"})
    plain = _create(client, training_file)
    assert a.metadata == {"team": "travel", "stage": "dev"} and plain.metadata is None
    assert client.fine_tuning.jobs.retrieve(b.id).metadata == {"team": "travel", "stage": "prod"}
    listed = client.fine_tuning.jobs.list
    assert [j.id for j in listed(metadata={"team": "travel"})] == [b.id, a.id]
    assert [j.id for j in listed(metadata={"team": "travel", "stage": "dev"})] == [a.id]  # AND
    assert [j.id for j in listed(metadata={"team": "other"})] == []
    assert [j.id for j in listed(extra_query={"metadata": "null"})] == [plain.id]
    assert len(listed().data) == 3


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
        {"k": 1},
        ["not", "an", "object"],
    ],
    ids=["17-pairs", "long-key", "long-value", "not-a-string", "not-an-object"],
)
def test_metadata_limits(client: Any, training_file: str, metadata: Any) -> None:
    assert _target(client, training_file, metadata=metadata) == "metadata"


def test_metadata_at_its_limits_is_fine(client: Any, training_file: str) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assert _create(client, training_file, metadata=metadata).metadata == metadata


# --- trainingType -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Standard", "GLOBALSTANDARD", "datazone", "Developer", "DeveloperTier"]
)
def test_training_type_is_kept_as_received(client: Any, training_file: str, value: str) -> None:
    job = _create(client, training_file, extra_body={"trainingType": value})
    assert job.model_extra["trainingType"] == value
    assert client.fine_tuning.jobs.retrieve(job.id).model_extra["trainingType"] == value


def test_an_unknown_training_type_is_refused(client: Any, training_file: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _create(client, training_file, extra_body={"trainingType": "premium"})
    assert caught.value.code == "invalid_request_error"
    assert "'premium'" in caught.value.body["message"]


def test_developer_tier_only_where_the_model_has_one(client: Any, training_file: str) -> None:
    for model in ("gpt-4.1-nano-2025-04-14", "gpt-4o-2024-08-06"):
        _create(client, training_file, model=model, extra_body={"trainingType": "developer"})
    developer = {"trainingType": "developer"}
    assert _target(client, training_file, model="gpt-35-turbo-0125", extra_body=developer) == (
        "trainingType"
    )


# --- open models ------------------------------------------------------------------------------


def test_open_models_only_in_ai_services_accounts(
    emulator: Any, arm: Any, make_openai: Any, client: Any, training_file: str
) -> None:
    assert not {m.id for m in client.models.list()} & set(OPEN_MODELS)
    assert _target(client, training_file, model="gpt-oss-20b",
                   extra_body={"trainingType": "globalstandard"}) == "model"  # fmt: skip
    body = {"location": "eastus2", "kind": "AIServices", "sku": {"name": "S0"}}
    assert arm.accounts.begin_create(RG, "acct-foundry", body).result().kind == "AIServices"
    foundry = make_openai("acct-foundry")
    listed = {m.id: m.model_extra for m in foundry.models.list()}
    assert all(listed[m]["capabilities"]["fine_tune"] for m in OPEN_MODELS)
    assert not {m.name for m in arm.accounts.list_models(RG, "acct-foundry")} & set(OPEN_MODELS)
    own_file = str(upload_processed(emulator, foundry, chat_lines()).id)
    for model in OPEN_MODELS:
        job = _create(foundry, own_file, model=model, extra_body={"trainingType": "GlobalStandard"})
        assert job.status == "pending"
    assert _target(foundry, own_file, model="Qwen-32B") == "trainingType"
    assert _target(foundry, own_file, model="Qwen-32B",
                   extra_body={"trainingType": "standard"}) == "trainingType"  # fmt: skip
    dpo = {"type": "dpo"}
    assert _target(foundry, own_file, model="Qwen-32B", method=dpo,
                   extra_body={"trainingType": "globalstandard"}) == "method"  # fmt: skip
