"""The Azure provider: the real `openai` and `azure-mgmt-cognitiveservices` clients.

One data-plane client per account and one ARM client per (subscription, tenant). With an
emulator URL, the same clients talk to the emulator over plain http; otherwise every endpoint
must be https and credentials come from Entra (azure-identity) or an environment variable.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import openai
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices import models as arm
from azure.mgmt.core.exceptions import ARMErrorFormat

from reconciler.desired import TAG_KEY, TAG_PROJECT, TAG_PROTECT, TAG_SPEC
from reconciler.errors import PermanentError, ProviderError
from reconciler.live import (
    MAX_ACCOUNT_WORKERS,
    TAG_KEY_METADATA,
    AccountLive,
    LiveCheckpoint,
    LiveDeployment,
    LiveFile,
    LiveJob,
    LiveUsage,
)
from reconciler.plans import DeploymentTarget, TrainJob
from reconciler.providers.azure_errors import call as _call
from reconciler.providers.azure_errors import call_with_conflict_retry as _call_with_conflict_retry
from reconciler.providers.azure_errors import openai_message
from reconciler.specs.models import (
    AccountSpec,
    ApiKeyAuth,
    Grader,
    Method,
    MultiGrader,
    Sku,
)

DATA_PLANE_RETRIES = 5
# Above this, a file goes through the Uploads API in parts: Azure's guidance for ~100 MB-5 GB
# (a one-shot upload cannot be retried or resumed), in its 64 MB parts.
UPLOADS_API_FROM_BYTES = 100 * 1024 * 1024
UPLOAD_PART_BYTES = 64 * 1024 * 1024
ARM_URL = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
EMULATOR_TENANT_TAG = "ftops-emulator-tenant"


class EmulatorCredential:
    """The emulator accepts any token; real credentials never go to it."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("emulator-token", int(time.time()) + 3600)


class _EmulatorBearer(SansIOHTTPPolicy):
    """Replaces ARM's bearer policy, which (rightly) refuses plain http."""

    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = "Bearer emulator-token"


def data_client(
    spec: AccountSpec,
    endpoint: str,
    auth: str | Callable[[], str],
    http_client: openai.DefaultHttpxClient | None = None,
) -> openai.OpenAI:
    """The `openai` client of one account: the v1 API (`{endpoint}/openai/v1/`, no api-version)
    or the versioned one. A callable `auth` is an Entra token provider."""
    common: dict[str, Any] = {"max_retries": DATA_PLANE_RETRIES, "http_client": http_client}
    if spec.data_plane_api == "v1":
        # v1 takes an API key or an Entra token alike as the bearer.
        return openai.OpenAI(base_url=f"{endpoint}/openai/v1/", api_key=auth, **common)
    common["api_version"] = spec.data_plane_api
    if callable(auth):
        return openai.AzureOpenAI(azure_endpoint=endpoint, azure_ad_token_provider=auth, **common)
    return openai.AzureOpenAI(azure_endpoint=endpoint, api_key=auth, **common)


class AzureProvider:
    def __init__(
        self,
        accounts: dict[str, AccountSpec],
        *,
        emulator_url: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.accounts = accounts
        self.emulator_url = emulator_url.rstrip("/") if emulator_url else None
        self.environ = environ if environ is not None else dict(os.environ)
        self._data: dict[str, openai.OpenAI] = {}
        self._arm: dict[tuple[str, str], CognitiveServicesManagementClient] = {}
        self._clients_lock = threading.Lock()  # accounts and their lists are read on threads

    # --- clients ------------------------------------------------------------------------

    @cached_property
    def credential(self) -> Any:
        if self.emulator_url:
            return EmulatorCredential()
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(additionally_allowed_tenants=["*"])

    @cached_property
    def http(self) -> openai.DefaultHttpxClient:
        """One connection pool (and one TLS context) for every account's data-plane client:
        each client of its own spent 40 ms loading the CA bundle, a second per 25 accounts."""
        return openai.DefaultHttpxClient()

    def data(self, account: str) -> openai.OpenAI:
        with self._clients_lock:
            if account not in self._data:
                self._data[account] = self._make_data_client(self.accounts[account])
            return self._data[account]

    def _make_data_client(self, spec: AccountSpec) -> openai.OpenAI:
        if self.emulator_url:
            url = f"{self.emulator_url}/{spec.account_name}"
            return data_client(spec, url, "emulator", self.http)
        endpoint = spec.resolved_endpoint.rstrip("/")
        if not endpoint.startswith("https://"):
            raise PermanentError(
                f"account endpoint {endpoint} is not https",
                code="INSECURE_ENDPOINT",
                hint="real Azure endpoints must use https://",
            )
        if isinstance(spec.auth, ApiKeyAuth):
            key = self.environ.get(spec.auth.api_key_env)
            if not key:
                raise PermanentError(
                    f"environment variable {spec.auth.api_key_env} is not set",
                    code="MISSING_API_KEY",
                    hint=f"export {spec.auth.api_key_env}, or use auth: entra",
                )
            return data_client(spec, endpoint, key, self.http)
        return data_client(spec, endpoint, self._token_provider(spec), self.http)

    def _token_provider(self, spec: AccountSpec) -> Callable[[], str]:
        def token() -> str:
            kwargs = {"tenant_id": spec.tenant} if spec.tenant else {}
            return str(self.credential.get_token(COGNITIVE_SCOPE, **kwargs).token)

        return token

    def arm(self, account: str) -> CognitiveServicesManagementClient:
        spec = self.accounts[account]
        key = (spec.subscription, spec.tenant or "")
        with self._clients_lock:
            if key not in self._arm:
                self._arm[key] = self._make_arm_client(spec)
            return self._arm[key]

    def _make_arm_client(self, spec: AccountSpec) -> CognitiveServicesManagementClient:
        if self.emulator_url:
            return CognitiveServicesManagementClient(
                self.credential,
                spec.subscription,
                base_url=self.emulator_url,
                authentication_policy=_EmulatorBearer(),
                polling_interval=0.2,
                retry_backoff_factor=0.1,
            )
        return CognitiveServicesManagementClient(
            self.credential, spec.subscription, base_url=ARM_URL, polling_interval=5
        )

    def _arm_call(self, account: str) -> tuple[CognitiveServicesManagementClient, str, str]:
        spec = self.accounts[account]
        return self.arm(account), spec.resource_group, spec.account_name

    # --- reads --------------------------------------------------------------------------

    def read_account(
        self,
        account: str,
        *,
        checkpoints_for: frozenset[str] = frozenset(),
        metrics_for: frozenset[str] = frozenset(),
    ) -> AccountLive:
        """Files, jobs and deployments, listed at the same time: each list's pages follow one
        another (a page's link comes with the page before), the lists need not."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            files = pool.submit(self._files, account)
            jobs = pool.submit(self._jobs, account, checkpoints_for, metrics_for)
            deployments = pool.submit(self._deployments, account)
            listed_jobs, served_at = jobs.result()
            return AccountLive(
                account=account,
                files=files.result(),
                jobs=listed_jobs,
                deployments=deployments.result(),
                read_at=served_at,
            )

    def read_usages(self, account: str) -> dict[str, LiveUsage]:
        mc, rg, name = self._arm_call(account)
        return _call(
            lambda: {
                u.name.value: LiveUsage(current=u.current_value or 0, limit=u.limit)
                for u in mc.accounts.list_usages(rg, name).value or []
                if u.name is not None and u.name.value
            },
            f"list usages of {account}",
        )

    def _files(self, account: str) -> tuple[LiveFile, ...]:
        files = self.data(account).files.with_raw_response.list
        items, _ = _call(lambda: data_pages(files), f"list files in {account}")
        return tuple(_file(f) for f in items)

    def _jobs(
        self, account: str, checkpoints_for: frozenset[str], metrics_for: frozenset[str]
    ) -> tuple[tuple[LiveJob, ...], int | None]:
        jobs = self.data(account).fine_tuning.jobs.with_raw_response.list
        items, date = _call(lambda: data_pages(jobs), f"list fine-tuning jobs in {account}")
        detailed = tuple(
            self._with_details(account, _job(j), checkpoints_for, metrics_for) for j in items
        )
        return detailed, _served_at(date)

    def _deployments(self, account: str) -> tuple[LiveDeployment, ...]:
        """Through the ARM client's pipeline (auth, retries), the pages read as JSON: the
        SDK's model deserialisation cost more than the rest of a large plan."""
        mc = self.arm(account)
        url = f"{arm_id(self.accounts[account])}/deployments"
        return _call(
            lambda: tuple(self._deployment(d) for d in arm_list(mc, url)),
            f"list deployments of {account}",
        )

    def _with_details(
        self,
        account: str,
        job: LiveJob,
        checkpoints_for: frozenset[str],
        metrics_for: frozenset[str],
    ) -> LiveJob:
        if job.is_paused or (job.suffix in checkpoints_for and job.status == "succeeded"):
            job = self.job_with_checkpoints(account, job)
        if job.status == "running" or (job.is_terminal and job.suffix in metrics_for):
            job = self.with_progress(account, job)
        if job.is_paused:
            job = self._with_pause_reason(account, job)
        return job

    def _with_pause_reason(self, account: str, job: LiveJob) -> LiveJob:
        """Who paused the job, in the service's words: its newest "Job paused…" event."""
        events = self.data(account).fine_tuning.jobs.list_events(job.id, limit=20)
        for event in _call(lambda: list(events.data), f"list events of {job.id}"):
            message = event.message or ""
            if message.lower().startswith("job paused"):
                return job.model_copy(
                    update={"pause_reason": message, "paused_by": _who_paused(message)}
                )
        return job

    def with_progress(self, account: str, job: LiveJob) -> LiveJob:
        """The newest metrics event of a job: step (of how many), training and validation loss."""
        events = self.data(account).fine_tuning.jobs.list_events(job.id, limit=10)
        for event in _call(lambda: list(events.data), f"list events of {job.id}"):
            data = event.data if isinstance(event.data, dict) else {}
            if event.type == "metrics" and "step" in data:
                return job.model_copy(update=_metrics(data, event.message or ""))
        return job

    def job_with_checkpoints(self, account: str, job: LiveJob) -> LiveJob:
        pages = self.data(account).fine_tuning.jobs.checkpoints.list(job.id)
        checkpoints = _call(
            lambda: [
                LiveCheckpoint(
                    id=c.id, step_number=c.step_number, model=c.fine_tuned_model_checkpoint
                )
                for c in pages
            ],
            f"list checkpoints of {job.id}",
        )
        return job.model_copy(update={"checkpoints": tuple(checkpoints)})

    def complete(self, account: str, deployment: str, messages: list[dict[str, str]]) -> str:
        """One chat completion from a deployment (a smoke test): the answer's text."""
        answer = _call(
            lambda: self.data(account).chat.completions.create(
                model=deployment,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=200,
            ),
            f"smoke-test deployment {deployment} in {account}",
        )
        return answer.choices[0].message.content or "" if answer.choices else ""

    def download_file(self, account: str, file_id: str) -> bytes:
        return _call(
            lambda: self.data(account).files.content(file_id).read(),
            f"download {file_id} from {account}",
        )

    # --- writes -------------------------------------------------------------------------

    def upload_file(self, account: str, filename: str, path: Path) -> str:
        if path.stat().st_size > UPLOADS_API_FROM_BYTES:
            return self._upload_in_parts(account, filename, path)

        def upload() -> str:
            with path.open("rb") as fh:
                created = self.data(account).files.create(
                    file=(filename, fh, "application/jsonl"), purpose="fine-tune"
                )
            return created.id

        return _call(upload, f"upload {filename} to {account}")

    def _upload_in_parts(self, account: str, filename: str, path: Path) -> str:
        """The Uploads API: create, add 64 MB parts (each its own request, retried alone), then
        complete with their md5. Same file name, so it is found by its content as any other."""
        client = self.data(account)
        size = path.stat().st_size
        upload = _call(
            lambda: client.uploads.create(
                bytes=size, filename=filename, mime_type="application/jsonl", purpose="fine-tune"
            ),
            f"start the upload of {filename} to {account}",
        )
        md5 = hashlib.md5(usedforsecurity=False)
        part_ids: list[str] = []
        with path.open("rb") as fh:
            while chunk := fh.read(UPLOAD_PART_BYTES):
                md5.update(chunk)
                # One request a part: the SDK retries a failed part on its own (max_retries).
                what = f"upload part {len(part_ids) + 1} of {upload.id}"
                part = _call(lambda: client.uploads.parts.create(upload.id, data=chunk), what)
                part_ids.append(part.id)
        done = _call(
            lambda: client.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest()),
            f"complete the upload of {filename} to {account}",
        )
        assert done.file is not None, f"upload {upload.id} completed without a file"
        return done.file.id

    def create_job(self, account: str, job: TrainJob) -> LiveJob:
        request = job_request(job)
        created = _call(
            lambda: self.data(account).fine_tuning.jobs.create(**request),
            f"create fine-tuning job in {account}",
        )
        return _job(created.model_dump())

    def pause_job(self, account: str, job_id: str) -> None:
        _call(
            lambda: self.data(account).fine_tuning.jobs.pause(job_id),
            f"pause job {job_id} in {account}",
        )

    def resume_job(self, account: str, job_id: str) -> None:
        _call(
            lambda: self.data(account).fine_tuning.jobs.resume(job_id),
            f"resume job {job_id} in {account}",
        )

    def validate_grader(self, account: str, grader: Grader) -> str | None:
        """The service's verdict on a grader: None when valid, else its message."""
        client, body = self.data(account), grader_body(grader)
        try:
            _call(
                lambda: client.fine_tuning.alpha.graders.validate(grader=body),  # type: ignore[arg-type]
                f"validate a grader in {account}",
            )
        except ProviderError as exc:
            if isinstance(exc.__cause__, openai.BadRequestError):
                return openai_message(exc.__cause__)
            raise
        return None

    def put_deployment(
        self, account: str, target: DeploymentTarget, *, capacity: int | None = None
    ) -> None:
        """Create or update; `capacity` overrides the target's (the first of two calls)."""
        mc, rg, acct = self._arm_call(account)
        source = self.accounts[target.trained_in] if target.trained_in else None
        cross_tenant = source is not None and source.tenant != self.accounts[account].tenant
        headers = self._aux_headers(source) if cross_tenant and source else None
        deployment = arm_deployment(target, source, cross_tenant, capacity)
        _call_with_conflict_retry(
            lambda: mc.deployments.begin_create_or_update(
                rg, acct, target.name, deployment, headers=headers
            ).result(),
            f"create or update deployment {target.name} in {account}",
        )

    def patch_deployment_sku(self, account: str, name: str, sku: Sku) -> None:
        mc, rg, acct = self._arm_call(account)
        patch = arm.PatchResourceTagsAndSku(sku=arm.Sku(name=sku.name, capacity=sku.capacity))
        _call_with_conflict_retry(
            lambda: mc.deployments.begin_update(rg, acct, name, patch).result(),
            f"update the sku of deployment {name} in {account}",
        )

    def delete_deployment(self, account: str, name: str) -> None:
        mc, rg, acct = self._arm_call(account)
        _call_with_conflict_retry(
            lambda: mc.deployments.begin_delete(rg, acct, name).result(),
            f"delete deployment {name} in {account}",
        )

    def delete_file(self, account: str, file_id: str) -> None:
        _call(
            lambda: self.data(account).files.delete(file_id), f"delete file {file_id} in {account}"
        )

    def ensure_accounts(self, accounts: list[str]) -> None:
        """Emulator only: create the accounts the specs declare that do not exist yet (ftops
        never creates real ones): one list per resource group, the missing ones in parallel."""
        assert self.emulator_url, "accounts are created only in the emulator"
        groups: dict[tuple[str, str, str], list[str]] = {}
        for account in accounts:
            spec = self.accounts[account]
            where = (spec.subscription, spec.tenant or "", spec.resource_group)
            groups.setdefault(where, []).append(account)
        missing = [a for names in groups.values() for a in self._absent(names)]
        if missing:
            with ThreadPoolExecutor(max_workers=min(MAX_ACCOUNT_WORKERS, len(missing))) as pool:
                list(pool.map(self._create_account, missing))  # re-raises the first failure

    def _absent(self, accounts: list[str]) -> list[str]:
        """Those of `accounts` (one client, one resource group) the group does not hold."""
        mc, rg, _ = self._arm_call(accounts[0])
        existing = _call(
            lambda: {a.name for a in mc.accounts.list_by_resource_group(rg)},
            f"list emulator accounts in {rg}",
        )
        return [a for a in accounts if self.accounts[a].account_name not in existing]

    def _create_account(self, account: str) -> None:
        spec = self.accounts[account]
        mc, rg, name = self._arm_call(account)
        tags = {EMULATOR_TENANT_TAG: spec.tenant} if spec.tenant else None
        body = arm.Account(
            location=spec.region,
            kind=spec.kind,
            sku=arm.Sku(name="S0"),
            tags=tags,
            properties=arm.AccountProperties(custom_sub_domain_name=name),
        )
        _call(
            lambda: mc.accounts.begin_create(rg, name, body).result(),
            f"create emulator account {name}",
        )

    def _aux_headers(self, source: AccountSpec) -> dict[str, str]:
        """Cross-tenant copies carry the source tenant's token in the auxiliary header."""
        kwargs = {"tenant_id": source.tenant} if source.tenant else {}
        token = self.credential.get_token(ARM_SCOPE, **kwargs).token
        return {"x-ms-authorization-auxiliary": f"Bearer {token}"}

    def _deployment(self, d: dict[str, Any]) -> LiveDeployment:
        """The live deployment, its source ARM id named by the declared account it points at."""
        live = _deployment(d)
        source = (live.source or live.source_account or "").lower()
        named = next((n for n, a in self.accounts.items() if arm_id(a).lower() == source), None)
        return live.model_copy(update={"trained_in": named or live.source or live.source_account})


# --- wire → live ------------------------------------------------------------------------


def _file(f: dict[str, Any]) -> LiveFile:
    return LiveFile(
        id=f["id"],
        filename=f.get("filename") or "",
        status=f.get("status") or "",
        bytes=f.get("bytes"),
        purpose=f.get("purpose") or "fine-tune",
        status_details=f.get("status_details"),
        created_at=f.get("created_at"),
    )


def data_pages(list_page: Callable[..., Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Every item of a data-plane list, page after page (`after` the last id while `has_more`),
    as JSON, and the first page's Date header. The SDK's response models are not built: for
    a fleet they were most of a read's CPU."""
    items: list[dict[str, Any]] = []
    date: str | None = None
    after: str | None = None
    while True:
        raw = list_page(after=after) if after else list_page()
        page = raw.http_response.json()
        date = date or raw.headers.get("date")
        data = page.get("data") or []
        items.extend(data)
        if not page.get("has_more") or not data:
            return items, date
        after = data[-1]["id"]


_STEP_OF = re.compile(r"Step (\d+)/(\d+)")  # Azure's metrics events: "Step 45/100: training loss=…"


def _metrics(data: dict[str, Any], message: str) -> dict[str, Any]:
    total = data.get("total_steps")
    if not isinstance(total, int) and (match := _STEP_OF.search(message)):
        total = int(match.group(2))
    step = data.get("step")
    return {
        "step": int(step) if isinstance(step, int | float) else None,
        "total_steps": total if isinstance(total, int) else None,
        "train_loss": data.get("train_loss"),
        "valid_loss": data.get("valid_loss") or data.get("full_valid_loss"),
    }


def _job(raw: dict[str, Any]) -> LiveJob:
    error = raw.get("error") or {}
    method, recorded = _recorded_method(raw)
    return LiveJob(
        id=raw["id"],
        status=raw["status"],
        model=raw.get("model") or "",
        suffix=raw.get("suffix"),
        fine_tuned_model=raw.get("fine_tuned_model"),
        training_file=raw.get("training_file"),
        validation_file=raw.get("validation_file"),
        created_at=raw.get("created_at"),
        finished_at=raw.get("finished_at"),
        trained_tokens=raw.get("trained_tokens"),
        method=method,
        hyperparameters=recorded,
        seed=raw.get("seed"),
        error=(error.get("message") if isinstance(error, dict) else None) or None,
        estimated_finish=raw.get("estimated_finish"),
        result_files=tuple(raw.get("result_files") or ()),
        metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
        training_type=_tier_of(raw.get("trainingType")),
    )


def _served_at(date: str | None) -> int | None:
    """The service's clock (its Date header): what the jobs' timestamps are compared with."""
    try:
        return int(parsedate_to_datetime(date).timestamp()) if date else None
    except (TypeError, ValueError):
        return None


def _who_paused(message: str) -> Literal["person", "azure"]:
    return "person" if "by the user" in message.lower() else "azure"


def _deployment(d: dict[str, Any]) -> LiveDeployment:
    """A deployment as ARM's JSON has it."""
    props = d.get("properties") or {}
    model = props.get("model") or {}
    sku = d.get("sku") or {}
    return LiveDeployment(
        name=d["name"],
        model_name=model.get("name"),
        model_version=model.get("version"),
        model_format=model.get("format"),
        source=model.get("source"),
        source_account=model.get("sourceAccount"),
        sku_name=sku.get("name"),
        capacity=sku.get("capacity"),
        rai_policy=props.get("raiPolicyName"),
        version_upgrade_option=props.get("versionUpgradeOption"),
        tags=dict(d.get("tags") or {}),
        provisioning_state=props.get("provisioningState"),
    )


def arm_list(mc: CognitiveServicesManagementClient, url: str) -> Iterator[dict[str, Any]]:
    """The items of an ARM list, page after page by `nextLink`, as JSON."""
    # `_send_request` is the client's raw request through its own pipeline (the generated
    # operations' path, with their api-version): underscored in this SDK, documented as such.
    params: dict[str, str] | None = {"api-version": mc._config.api_version}
    next_url: str | None = url
    while next_url:
        response = mc._send_request(HttpRequest("GET", next_url, params=params))
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=ARM_ERRORS)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        page = response.json()
        yield from page.get("value") or []
        next_url, params = page.get("nextLink"), None  # a nextLink carries its api-version


ARM_ERRORS = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}


def _recorded_method(raw: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The method type and its hyperparameters as Azure recorded them, in the specs' names."""
    method = raw.get("method") or {}
    kind = method.get("type") if isinstance(method, dict) else None
    inner = (method.get(kind) or {}) if kind else {}
    hyper = inner.get("hyperparameters") or raw.get("hyperparameters") or {}
    recorded = {
        spec: hyper[wire]
        for spec, wire in HYPERPARAMETER_NAMES.items()
        if isinstance(hyper.get(wire), int | float) and not isinstance(hyper.get(wire), bool)
    }
    return kind, recorded


# --- plan → wire ------------------------------------------------------------------------

HYPERPARAMETER_NAMES = {
    "epochs": "n_epochs",
    "batchSize": "batch_size",
    "learningRateMultiplier": "learning_rate_multiplier",
    "beta": "beta",
    "reasoningEffort": "reasoning_effort",
    "evalInterval": "eval_interval",
    "evalSamples": "eval_samples",
    "computeMultiplier": "compute_multiplier",
}


def job_request(job: TrainJob) -> dict[str, Any]:
    """The `fine_tuning.jobs.create` arguments; runs only once the job's files are processed."""
    assert job.ready, f"{job.address} is not ready to train"
    request: dict[str, Any] = {
        "model": job.base_model,
        "training_file": job.file_ids[job.training_file],
        "suffix": job.suffix,
        "method": job_method(job.method),
        "metadata": {TAG_PROJECT: job.project, TAG_KEY_METADATA: job.key},
    }
    if job.validation_file:
        request["validation_file"] = job.file_ids[job.validation_file]
    if job.seed is not None:
        request["seed"] = job.seed
    if job.training_type:
        request["extra_body"] = {"trainingType": TRAINING_TYPES[job.training_type]}
    return request


def job_method(method: Method) -> dict[str, Any]:
    """The wire `method`; 'auto' (and unset) hyperparameters are left out: the service chooses."""
    given = method.hyperparameters.model_dump(by_alias=True)
    wire = {
        HYPERPARAMETER_NAMES[name]: value
        for name, value in given.items()
        if value not in ("auto", None)
    }
    inner: dict[str, Any] = {"hyperparameters": wire}
    if method.grader is not None:
        inner["grader"] = grader_body(method.grader)
    if method.response_format is not None:
        inner["response_format"] = method.response_format
    return {"type": method.type, method.type: inner}


def grader_body(grader: Grader) -> dict[str, Any]:
    """A grader as the API takes it: the specs' fields in snake_case, a python grader's file
    already read into `source` by the workspace."""
    body = grader.model_dump(exclude_none=True, exclude={"source_file"})
    if isinstance(grader, MultiGrader):
        body["graders"] = {name: grader_body(g) for name, g in grader.graders.items()}
    return dict(body)


# The spec's tier names → Azure's `trainingType` values, as Microsoft Learn's fine-tuning page
# spells them (the service compares them case-insensitively; no REST spec describes the field).
# DataZone is documented as a tier but not as a value: "DataZoneStandard" follows GlobalStandard.
TRAINING_TYPES = {
    "Standard": "Standard",
    "DataZone": "DataZoneStandard",
    "Global": "GlobalStandard",
    "Developer": "developerTier",
}


def _tier_of(wire: Any) -> str | None:
    if not isinstance(wire, str):
        return None
    named = {v.lower(): k for k, v in TRAINING_TYPES.items()}
    aliases = {"globalstandard": "Global", "developer": "Developer", "datazone": "DataZone"}
    return (named | aliases).get(wire.lower(), wire)


def deployment_tags(target: DeploymentTarget) -> dict[str, str]:
    tags = {TAG_PROJECT: target.project, TAG_KEY: target.key, TAG_SPEC: target.spec_key}
    return tags | ({TAG_PROTECT: "true"} if target.protect else {})


def arm_id(account: AccountSpec) -> str:
    return (
        f"/subscriptions/{account.subscription}/resourceGroups/{account.resource_group}"
        f"/providers/Microsoft.CognitiveServices/accounts/{account.account_name}"
    )


def arm_deployment(
    target: DeploymentTarget,
    source: AccountSpec | None,
    cross_tenant: bool,
    capacity: int | None,
) -> arm.Deployment:
    assert target.model is not None, f"deployment {target.name}: the model is not known yet"
    source_id = arm_id(source) if source else None
    sku = target.sku
    return arm.Deployment(
        sku=arm.Sku(name=sku.name, capacity=sku.capacity if capacity is None else capacity),
        tags=deployment_tags(target),
        properties=arm.DeploymentProperties(
            model=arm.DeploymentModel(
                format="OpenAI",
                name=target.model,
                version=target.model_version,
                source=None if cross_tenant else source_id,
                source_account=source_id if cross_tenant else None,
            ),
            rai_policy_name=target.rai_policy,
            version_upgrade_option=target.version_upgrade_option,
        ),
    )
