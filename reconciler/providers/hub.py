"""Serverless fine-tuning in AI Foundry hub projects (Azure ML workspaces), through azure-ai-ml,
and the managed online endpoints that serve TrainingRun adapters there (`online`).

A hub project looks to the planner like an account: its files are data assets in the project's
default datastore, its jobs are FineTuning jobs (models as a service: Phi-4, Phi-4-mini, ...)
and its deployments are serverless endpoints of the models those jobs register. The planner and
apply stay as they are; this provider speaks Azure ML underneath (`RoutedCloud` sends each call
to the account's or the hub's provider).

What carries ftops's identity where Azure OpenAI has metadata and suffixes: a job's tags
(`ftops-key`, `ftops-suffix`, `ftops-project`), its name (`{suffix}`, then `{suffix}-2` for a
retry: a resubmitted name is the same job, so a crashed apply never starts a second one), and
the data asset's name (the file name with `_` for `.`: asset names take no dots).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from reconciler.desired import TAG_KEY, TAG_PROJECT
from reconciler.errors import FtopsError
from reconciler.estimating import SERVERLESS_HYPERPARAMETERS
from reconciler.live import (
    TAG_KEY_METADATA,
    AccountLive,
    LiveDeployment,
    LiveFile,
    LiveJob,
    LiveUsage,
)
from reconciler.plans import DeploymentTarget, TrainJob
from reconciler.providers.azure import deployment_tags
from reconciler.providers.azureml import MLWorkspace
from reconciler.providers.online import OnlineEndpoints
from reconciler.specs.models import Grader, Hyperparameters, MLWorkspaceSpec, Sku

TAG_SUFFIX = "ftops-suffix"
REGISTRY_MODEL = "azureml://registries/azureml/models/{model}/labels/latest"
_REGISTRY_NAME = re.compile(r"/models/([^/]+)/")
TASK = "ChatCompletion"
MAX_ATTEMPTS = 20
# Azure ML job states → the fine-tuning states the planner reads.
STATUSES = {
    "NotStarted": "queued",
    "Starting": "queued",
    "Provisioning": "queued",
    "Preparing": "queued",
    "Queued": "queued",
    "Running": "running",
    "Finalizing": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "NotResponding": "failed",
    "CancelRequested": "cancelled",
    "Canceled": "cancelled",
    "Paused": "paused",
}
# The spec's hyperparameters (those preflight lets through) by the names serverless fine-tuning
# takes, whose values are strings.
_WIRE_NAMES = {"epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size"}
HYPERPARAMETERS = {field: _WIRE_NAMES[field] for field in SERVERLESS_HYPERPARAMETERS}


class HubError(FtopsError):
    pass


def asset_name(filename: str) -> str:
    return filename.replace(".", "_")


def file_name_of(asset: str) -> str:
    """The reverse of `asset_name`: ftops's file names have no `_` of their own."""
    return asset.replace("_", ".")


def hyperparameters(values: Hyperparameters, seed: int | None) -> dict[str, str]:
    """The spec's values that are set, as serverless fine-tuning's string map (preflight has
    refused the ones it has no setting for)."""
    wire = {
        name: str(getattr(values, field))
        for field, name in HYPERPARAMETERS.items()
        if getattr(values, field) != "auto"
    }
    return wire | ({"seed": str(seed)} if seed is not None else {})


class HubProvider:
    """The CloudProvider of hub projects, by the MLWorkspace's name; `root` is the repository,
    whose run directories hold the adapters online endpoints serve."""

    def __init__(
        self,
        hubs: dict[str, MLWorkspaceSpec],
        *,
        project: str,
        emulator_url: str | None = None,
        root: Path,
    ) -> None:
        self.project = project
        self.hubs = {n: MLWorkspace(s, emulator_url=emulator_url) for n, s in hubs.items()}
        self._locks = {n: threading.Lock() for n in hubs}
        self.online = OnlineEndpoints(root)

    def handles(self, account: str) -> bool:
        return account in self.hubs

    # --- reads -----------------------------------------------------------------------------

    def read_account(
        self,
        account: str,
        *,
        checkpoints_for: frozenset[str] = frozenset(),
        metrics_for: frozenset[str] = frozenset(),
    ) -> AccountLive:
        ws = self.hubs[account]
        ml = ws.ml
        assets = ws.call(lambda: list(ml.data.list()), "list data assets")
        jobs = ws.call(lambda: list(ml.jobs.list()), "list jobs")
        endpoints = ws.call(lambda: list(ml.serverless_endpoints.list()), "list serverless")
        online = self.online.read(ws)
        return AccountLive(
            account=account,
            files=tuple(self._file(a) for a in assets if self._owned_asset(a.name)),
            jobs=tuple(self._job(j) for j in jobs if self._owned_job(j)),
            deployments=(*(self._endpoint(e) for e in endpoints), *online),
            read_at=self._service_now(),
        )

    def _service_now(self) -> int:
        """The service's clock, that job times are compared with: the emulator's runs its own."""
        url = next(iter(self.hubs.values())).emulator_url if self.hubs else None
        if url is None:
            return int(time.time())
        import json
        import urllib.request

        with urllib.request.urlopen(f"{url}/_emulator/clock", timeout=30) as reply:
            return int(json.load(reply)["now"])

    def _owned_asset(self, name: str) -> bool:
        return name.startswith(asset_name(f"{self.project}."))

    def _file(self, asset: Any) -> LiveFile:
        version = getattr(asset, "latest_version", None) or "1"
        return LiveFile(
            id=f"azureml:{asset.name}:{version}",
            filename=file_name_of(asset.name),
            status="processed",  # a registered data asset is ready to train on
        )

    def _owned_job(self, job: Any) -> bool:
        tags = getattr(job, "tags", None) or {}
        return tags.get(TAG_PROJECT) == self.project and TAG_SUFFIX in tags

    def _job(self, job: Any) -> LiveJob:
        tags = dict(job.tags or {})
        status = str(getattr(job.status, "value", job.status) or "NotStarted")
        details = job.creation_context
        outputs = getattr(job, "outputs", None) or {}
        registered = outputs.get("registered_model")
        model_uri = getattr(registered, "path", None) if status == "Completed" else None
        base = str(getattr(job.model, "path", "") or "")
        found = _REGISTRY_NAME.search(base + "/")
        return LiveJob(
            id=job.name,
            status=STATUSES.get(status, "queued"),
            model=found.group(1) if found else base,
            suffix=tags.get(TAG_SUFFIX),
            fine_tuned_model=str(model_uri) if model_uri else None,
            training_file=_asset_id(getattr(job, "training_data", None)),
            validation_file=_asset_id(getattr(job, "validation_data", None)),
            created_at=int(details.created_at.timestamp()) if details else None,
            finished_at=_finished_at(details, status),
            method="supervised",
            hyperparameters=_spec_hyperparameters(job.hyperparameters or {}),
            seed=_seed(job.hyperparameters or {}),
            metadata={TAG_KEY_METADATA: tags.get(TAG_KEY, "")},
            error=_error(job) if status == "Failed" else None,
        )

    def _endpoint(self, endpoint: Any) -> LiveDeployment:
        return LiveDeployment(
            name=endpoint.name,
            model_name=endpoint.model_id,
            model_version="1",
            sku_name="Consumption",
            capacity=1,  # a serverless endpoint has none; the one unit ftops plans for it
            tags=dict(endpoint.tags or {}),
            provisioning_state=_state(endpoint.provisioning_state),
        )

    def read_usages(self, account: str) -> dict[str, LiveUsage]:
        return {}  # hub projects report no Azure OpenAI usages

    def with_progress(self, account: str, job: LiveJob) -> LiveJob:
        return job

    # --- writes ----------------------------------------------------------------------------

    def upload_file(self, account: str, filename: str, path: Path) -> str:
        """The bytes to the datastore, then a data asset that names them. The file name is a
        content address already (`{project}.{dataset}.{sha256[:16]}.jsonl`): the file is not
        hashed again."""
        ws = self.hubs[account]
        blob = f"ftops/files/{filename}"
        ws.put_file(path, blob)
        name = asset_name(filename)
        if not ws.data_version(name, "1"):
            ws.register_data(name, "1", ws.datastore_uri(blob), folder=False)
        return f"azureml:{name}:1"

    def create_job(self, account: str, job: TrainJob) -> LiveJob:
        ws = self.hubs[account]
        assert job.base_model is not None  # the plan starts a job once its model is known
        with self._locks[account]:
            name = self._free_job_name(ws, job.suffix)
            ws.submit(_fine_tuning_job(name, job))
        return LiveJob(id=name, status="queued", model=job.base_model, suffix=job.suffix)

    def _free_job_name(self, ws: MLWorkspace, suffix: str) -> str:
        """The first of `suffix`, `suffix-2`, ... that names no job: a retry's name."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            name = suffix if attempt == 1 else f"{suffix}-{attempt}"
            if ws.job(name) is None:
                return name
        raise HubError(f"{MAX_ATTEMPTS} jobs of {suffix} already", code="HUB_TOO_MANY_ATTEMPTS")

    def put_deployment(
        self, account: str, target: DeploymentTarget, *, capacity: int | None = None
    ) -> None:
        from azure.ai.ml.entities import ServerlessEndpoint

        ws = self.hubs[account]
        assert target.model is not None  # apply deploys once the model is known
        if target.adapter is not None:
            self.online.put(ws, target, capacity)
            return
        tags = deployment_tags(target)  # as on Azure OpenAI deployments: ownership, drift, protect
        endpoint = ServerlessEndpoint(name=target.name, model_id=target.model, tags=tags)
        ws.wait(
            lambda: ws.ml.serverless_endpoints.begin_create_or_update(endpoint).result(),
            f"create serverless endpoint {target.name}",
        )

    def delete_deployment(self, account: str, name: str) -> None:
        ws = self.hubs[account]
        if self.online.find(ws, name) is not None:
            self.online.delete(ws, name)
            return
        ws.wait(
            lambda: ws.ml.serverless_endpoints.begin_delete(name).result(),
            f"delete serverless endpoint {name}",
        )

    def patch_deployment_sku(self, account: str, name: str, sku: Sku) -> None:
        ws = self.hubs[account]
        if self.online.find(ws, name) is not None:  # the instance type changes only by a replace
            self.online.set_capacity(ws, name, sku.capacity)
            return
        raise HubError(f"serverless endpoint {name} has no sku to change", code="HUB_NO_SKU")

    def pause_job(self, account: str, job_id: str) -> None:
        raise HubError(f"job {job_id}: serverless fine-tuning cannot pause", code="HUB_NO_PAUSE")

    def resume_job(self, account: str, job_id: str) -> None:
        raise HubError(f"job {job_id}: serverless fine-tuning cannot resume", code="HUB_NO_PAUSE")

    def validate_grader(self, account: str, grader: Grader) -> str | None:
        return None  # no reinforcement fine-tuning here: preflight refuses the method

    def delete_file(self, account: str, file_id: str) -> None:
        raise HubError(f"{file_id}: data assets are kept", code="HUB_NO_DELETE")

    def download_file(self, account: str, file_id: str) -> bytes:
        """A data asset's bytes (for the data diff against the uploaded version)."""
        ws = self.hubs[account]
        _, name, version = file_id.split(":")
        asset = ws.call(lambda: ws.ml.data.get(name, version=version), f"read {file_id}")
        blob = str(asset.path).split("/paths/", 1)[-1]
        data = ws.call(lambda: ws.container.download_blob(blob).readall(), f"download {blob}")
        return bytes(data)

    def complete(self, account: str, deployment: str, messages: list[dict[str, str]]) -> str:
        """One chat completion through the serverless endpoint's own URL and key."""
        import openai

        ws = self.hubs[account]
        online = self.online.find(ws, deployment)
        if online is not None:
            return self.online.complete(ws, online, messages)
        found = ws.call(lambda: ws.ml.serverless_endpoints.get(deployment), "read endpoint")
        keys = ws.call(lambda: ws.ml.serverless_endpoints.get_keys(deployment), "read keys")
        client = openai.OpenAI(base_url=found.scoring_uri, api_key=keys.primary_key)
        answer = client.chat.completions.create(model=deployment, messages=messages)  # type: ignore[arg-type]
        return answer.choices[0].message.content or ""


def _fine_tuning_job(name: str, job: TrainJob) -> Any:
    """The job as azure-ai-ml's `create_finetuning_job` builds it (which, in 1.35, fails
    without validation data)."""
    from azure.ai.ml import Input, Output
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities._job.finetuning.custom_model_finetuning_job import (
        CustomModelFineTuningJob,
    )

    validation = job.file_ids.get(job.validation_file or "")
    return CustomModelFineTuningJob(
        name=name,
        display_name=job.fine_tune,
        task=TASK,
        model=Input(type=AssetTypes.MLFLOW_MODEL, path=REGISTRY_MODEL.format(model=job.base_model)),
        training_data=Input(type=AssetTypes.URI_FILE, path=job.file_ids[job.training_file]),
        validation_data=Input(type=AssetTypes.URI_FILE, path=validation) if validation else None,
        hyperparameters=hyperparameters(job.method.hyperparameters, job.seed),
        outputs={"registered_model": Output(type="mlflow_model", name=job.suffix)},
        tags={TAG_PROJECT: job.project, TAG_KEY: job.key, TAG_SUFFIX: job.suffix},
    )


def _spec_hyperparameters(wire: dict[str, str]) -> dict[str, Any]:
    by_wire = {w: f for f, w in HYPERPARAMETERS.items()}
    values: dict[str, Any] = {}
    for key, value in wire.items():
        if key in by_wire:
            values[by_wire[key]] = int(value) if str(value).isdigit() else value
    return values


_ARM_ASSET = re.compile(r"/data/([^/]+)/versions/([^/]+)$")


def _asset_id(data: Any) -> str | None:
    """A job's data input as the file ids `read_account` gives (`azureml:NAME:VERSION`); the
    service answers with the asset's ARM id."""
    path = str(getattr(data, "path", "") or "")
    found = _ARM_ASSET.search(path)
    return f"azureml:{found.group(1)}:{found.group(2)}" if found else (path or None)


def _error(job: Any) -> str | None:
    properties = dict(job.properties or {})
    found = properties.get("error") or properties.get("ftops.emulator.error")
    return str(found) if found else None


def _finished_at(details: Any, status: str) -> int | None:
    ended = status in ("Completed", "Failed", "Canceled")
    modified = getattr(details, "last_modified_at", None) if details else None
    return int(modified.timestamp()) if ended and modified else None


def _seed(wire: dict[str, str]) -> int | None:
    value = str(wire.get("seed", ""))
    return int(value) if value.isdigit() else None


def _state(value: Any) -> str:
    """ARM's provisioning state as Azure OpenAI's deployments spell it (`Succeeded`): the SDK
    lower-cases some."""
    state = str(getattr(value, "value", value) or "Succeeded")
    return state[:1].upper() + state[1:]


class RoutedCloud:
    """Azure OpenAI accounts through one provider, hub projects through another: one
    CloudProvider to apply, by the account (or workspace) name each call carries."""

    def __init__(self, accounts: Any, hubs: HubProvider) -> None:
        self.accounts = accounts
        self.hubs = hubs
        self.emulator_url = getattr(accounts, "emulator_url", None)

    def _for(self, account: str) -> Any:
        return self.hubs if self.hubs.handles(account) else self.accounts

    def read_account(
        self,
        account: str,
        *,
        checkpoints_for: frozenset[str],
        metrics_for: frozenset[str] = frozenset(),
    ) -> AccountLive:
        provider = self._for(account)
        live: AccountLive = provider.read_account(
            account, checkpoints_for=checkpoints_for, metrics_for=metrics_for
        )
        return live

    def read_usages(self, account: str) -> dict[str, LiveUsage]:
        return dict(self._for(account).read_usages(account))

    def with_progress(self, account: str, job: LiveJob) -> LiveJob:
        done: LiveJob = self._for(account).with_progress(account, job)
        return done

    def upload_file(self, account: str, filename: str, path: Path) -> str:
        return str(self._for(account).upload_file(account, filename, path))

    def create_job(self, account: str, job: TrainJob) -> LiveJob:
        created: LiveJob = self._for(account).create_job(account, job)
        return created

    def pause_job(self, account: str, job_id: str) -> None:
        self._for(account).pause_job(account, job_id)

    def resume_job(self, account: str, job_id: str) -> None:
        self._for(account).resume_job(account, job_id)

    def validate_grader(self, account: str, grader: Grader) -> str | None:
        found = self._for(account).validate_grader(account, grader)
        return None if found is None else str(found)

    def put_deployment(
        self, account: str, target: DeploymentTarget, *, capacity: int | None = None
    ) -> None:
        self._for(account).put_deployment(account, target, capacity=capacity)

    def patch_deployment_sku(self, account: str, name: str, sku: Sku) -> None:
        self._for(account).patch_deployment_sku(account, name, sku)

    def delete_deployment(self, account: str, name: str) -> None:
        self._for(account).delete_deployment(account, name)

    def delete_file(self, account: str, file_id: str) -> None:
        self._for(account).delete_file(account, file_id)

    def download_file(self, account: str, file_id: str) -> bytes:
        return bytes(self._for(account).download_file(account, file_id))

    def complete(self, account: str, deployment: str, messages: list[dict[str, str]]) -> str:
        return str(self._for(account).complete(account, deployment, messages))
