"""Azure Machine Learning through its own SDKs: `azure-ai-ml` for workspaces, clusters, assets
and jobs, `azure-storage-blob` for the workspace's default datastore.

Real Azure: `DefaultAzureCredential` for both (identity-based datastore access; no key ever
leaves Azure). The emulator: the SDK's cloud metadata points every call at it, an authentication
policy sends its token over http (the SDK refuses Bearer tokens without TLS otherwise), and the
datastore's emulator "key" (no secret) signs the blob calls. `azure-ai-ml` takes two seconds to
import: only commands with a run placed on a cluster load this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from reconciler.errors import FtopsError
from reconciler.specs.models import MLWorkspaceSpec

T = TypeVar("T")
DATASTORE_URI = "azureml://datastores/workspaceblobstore/paths/"
ML_API_VERSION = "2024-04-01"
RUNNING = (
    "NotStarted",
    "Queued",
    "Preparing",
    "Starting",
    "Provisioning",
    "Running",
    "Finalizing",
    "CancelRequested",
)


class AzureMLError(FtopsError):
    """An Azure ML call failed, or the workspace is not as the specs need it."""


UPLOAD_WORKERS = 8  # a code snapshot is a hundred small files


@dataclass(frozen=True)
class Upload:
    """A local file and the content address (blob name) it is stored under."""

    path: Path
    blob: str


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    size: str
    max_instances: int


@dataclass(frozen=True)
class JobFacts:
    name: str
    status: str
    error: str | None
    studio_url: str | None
    outputs: dict[str, str] | None = None  # output name → its datastore URI

    @property
    def running(self) -> bool:
        return self.status in RUNNING


class _EmulatorAuth:
    """An authentication policy for the emulator: its token, over plain http."""

    def __init__(self) -> None:
        from azure.core.pipeline.policies import SansIOHTTPPolicy

        class Policy(SansIOHTTPPolicy):
            def on_request(self, request: Any) -> None:
                request.context.options.pop("enforce_https", None)
                request.http_request.headers["Authorization"] = "Bearer emulator"

        self.policy = Policy()


class _EmulatorCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import time

        from azure.core.credentials import AccessToken

        return AccessToken("emulator", int(time.time()) + 3600)


def _quiet_sdk_loggers() -> None:
    """azure-ai-ml gives some of its module loggers a stderr handler of their own at INFO (its
    "experimental class" and studio-URL notes): ftops's diagnostics say what matters, once."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("azure"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class _DotFilter:
    """A stdout that passes everything on but azure-ai-ml's polling dots."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        return len(text) if text and not text.strip(".") else int(self.wrapped.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


_held = threading.Lock()
_holders = [0]


@contextmanager
def _dots_held_back() -> Iterator[None]:
    """For as long as any thread waits on an operation (the apply pool runs several)."""
    import sys

    with _held:
        _holders[0] += 1
        if _holders[0] == 1:
            sys.stdout = _DotFilter(sys.stdout)
    try:
        yield
    finally:
        with _held:
            _holders[0] -= 1
            if _holders[0] == 0 and isinstance(sys.stdout, _DotFilter):
                sys.stdout = sys.stdout.wrapped


class MLWorkspace:
    """One workspace: its clusters, its default datastore, its assets and jobs."""

    def __init__(self, spec: MLWorkspaceSpec, *, emulator_url: str | None = None) -> None:
        self.spec = spec
        self.emulator_url = emulator_url.rstrip("/") if emulator_url else None
        self._lock = threading.Lock()

    @property
    def arm_id(self) -> str:
        s = self.spec
        return (
            f"/subscriptions/{s.subscription}/resourceGroups/{s.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{s.workspace_name}"
        )

    @cached_property
    def ml(self) -> Any:
        client = self._client()
        _quiet_sdk_loggers()
        return client

    def _client(self) -> Any:
        from azure.ai.ml import MLClient

        s = self.spec
        options: dict[str, Any] = {"enable_telemetry": False, "show_progress": False}
        if self.emulator_url is None:
            from azure.identity import DefaultAzureCredential

            return MLClient(
                DefaultAzureCredential(),
                s.subscription,
                s.resource_group,
                s.workspace_name,
                **options,
            )
        url = self.emulator_url
        # A cloud of its own per emulator port: the SDK registers clouds process-wide by name.
        port = url.rsplit(":", 1)[-1]
        metadata = {
            "azure_portal": url,
            "resource_manager": url + "/",
            "active_directory": url,
            "aml_resource_id": url + "/",
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": url,
        }
        return MLClient(
            credential=_EmulatorCredential(),
            subscription_id=s.subscription,
            resource_group_name=s.resource_group,
            workspace_name=s.workspace_name,
            cloud=f"ftops-emulator-{port}",
            cloud_metadata=metadata,
            authentication_policy=_EmulatorAuth().policy,
            **options,
        )

    # --- the workspace and its clusters ---------------------------------------------------

    def call(self, fn: Callable[[], T], what: str) -> T:
        """One SDK call; its failure as ftops's error (credentials, HTTP, network), with a hint."""
        from reconciler.providers.azure_errors import call

        return call(fn, f"Azure ML workspace {self.spec.workspace_name}: {what}")

    def wait(self, fn: Callable[[], T], what: str) -> T:
        """`call` for a long-running operation: azure-ai-ml's poller prints a dot to stdout at
        every poll (stdout is where `--format json` writes), so those are held back."""
        with _dots_held_back():
            return self.call(fn, what)

    def _found(self, fn: Callable[[], T], what: str) -> T | None:
        """`_call`, with None for an absent resource."""
        from azure.core.exceptions import ResourceNotFoundError

        def attempt() -> T | None:
            try:
                return fn()
            except ResourceNotFoundError:
                return None

        return self.call(attempt, what)

    def exists(self) -> bool:
        found = self._found(lambda: self.ml.workspaces.get(self.spec.workspace_name), "read")
        return found is not None

    def cluster(self, name: str) -> ClusterFacts | None:
        found = self._found(lambda: self.ml.compute.get(name), f"read cluster {name}")
        if found is None:
            return None
        return ClusterFacts(
            name=name,
            size=str(getattr(found, "size", "") or ""),
            max_instances=int(getattr(found, "max_instances", 0) or 0),
        )

    def create_cluster(self, name: str, size: str, max_instances: int) -> None:
        """Only the emulator's clusters are made by ftops (as its accounts are)."""
        from azure.ai.ml.entities import AmlCompute

        cluster = AmlCompute(name=name, size=size, min_instances=0, max_instances=max_instances)
        self.call(
            lambda: self.ml.compute.begin_create_or_update(cluster).result(), f"create {name}"
        )

    # --- the default datastore ---------------------------------------------------------------

    @cached_property
    def container(self) -> Any:
        """The default datastore's blob container, as azure-storage-blob's ContainerClient."""
        from azure.storage.blob import ContainerClient

        store = self.call(self.ml.datastores.get_default, "read the default datastore")
        account, name = store.account_name, store.container_name
        if self.emulator_url is None:
            from azure.identity import DefaultAzureCredential

            url = f"https://{account}.blob.{store.endpoint}"
            return ContainerClient(url, name, credential=DefaultAzureCredential())
        from azure.core.credentials import AzureSasCredential

        # The emulator's datastore is identity-based too; its blob service takes any signature.
        sas = AzureSasCredential("sv=2025-01-05&sp=racwdl&sig=emulator")
        return ContainerClient(f"{self.emulator_url}/blob/{account}", name, credential=sas)

    def datastore_uri(self, path: str) -> str:
        return f"{DATASTORE_URI}{path}"

    def has_blob(self, name: str, size: int) -> bool:
        blob = self.container.get_blob_client(name)
        found = self._found(blob.get_blob_properties, f"read blob {name}")
        return found is not None and int(found.size) == size

    def put_file(self, path: Path, name: str) -> bool:
        """Upload `path` to blob `name` unless it is there with that size (names are content
        addresses: the same name holds the same bytes). True when it uploaded."""
        size = path.stat().st_size
        if self.has_blob(name, size):
            return False
        with path.open("rb") as data:
            self.call(
                lambda: self.container.upload_blob(name, data, overwrite=True, length=size),
                f"upload {name}",
            )
        return True

    def put_files(self, uploads: list[Upload]) -> int:
        """`put_file` for many, in parallel; how many were uploaded."""
        from concurrent.futures import ThreadPoolExecutor

        self.container  # noqa: B018 - made once, before the threads share it
        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            done = list(pool.map(lambda u: self.put_file(u.path, u.blob), uploads))
        return sum(done)

    def copy_prefix(self, source: str, target: str) -> int:
        """Every blob under `source` copied to the same name under `target`, inside the
        datastore (no bytes pass through this machine), unless it is there with that size; how
        many blobs `source` holds. A copy within one storage account is authorised by this
        request's credential."""
        listed = self.call(
            lambda: list(self.container.list_blobs(name_starts_with=source)), f"list {source}"
        )
        for item in listed:
            name = target + str(item.name)[len(source) :]
            if self.has_blob(name, int(item.size)):
                continue
            source_url = self.container.get_blob_client(item.name).url
            blob = self.container.get_blob_client(name)
            started = self.call(lambda: blob.start_copy_from_url(source_url), f"copy to {name}")  # noqa: B023
            status = started.get("copy_status")
            while status == "pending":
                time.sleep(1.0)
                status = self.call(blob.get_blob_properties, f"read {name}").copy.status
            if status != "success":
                raise AzureMLError(f"copying {item.name} to {name} ended {status}")
        return len(listed)

    def download_prefix(self, prefix: str, into: Path) -> list[Path]:
        written = []
        listed = self.call(
            lambda: list(self.container.list_blobs(name_starts_with=prefix)), f"list {prefix}"
        )
        for item in listed:
            relative = str(item.name)[len(prefix) :].lstrip("/")
            if not relative:
                continue
            target = into / relative
            if not target.resolve().is_relative_to(into.resolve()):
                raise AzureMLError(f"job output {item.name!r} would land outside {into}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                self.call(
                    lambda: self.container.download_blob(item.name).readinto(out),  # noqa: B023
                    f"download {item.name}",
                )
            written.append(target)
        return written

    # --- assets ------------------------------------------------------------------------------

    def data_version(self, name: str, version: str) -> bool:
        what = f"read data asset {name}:{version}"
        return self._found(lambda: self.ml.data.get(name, version=version), what) is not None

    def register_data(self, name: str, version: str, uri: str, folder: bool) -> None:
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data

        kind = AssetTypes.URI_FOLDER if folder else AssetTypes.URI_FILE
        data = Data(name=name, version=version, path=uri, type=kind)
        self.call(lambda: self.ml.data.create_or_update(data), f"register {name}:{version}")

    def model_version(self, name: str, version: str) -> bool:
        what = f"read model {name}:{version}"
        return self._found(lambda: self.ml.models.get(name, version=version), what) is not None

    def register_model(self, name: str, version: str, uri: str, tags: dict[str, str]) -> None:
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        model = Model(name=name, version=version, path=uri, type=AssetTypes.CUSTOM_MODEL, tags=tags)
        self.call(lambda: self.ml.models.create_or_update(model), f"register {name}:{version}")

    def environment_version(self, name: str, version: str) -> bool:
        what = f"read environment {name}:{version}"
        found = self._found(lambda: self.ml.environments.get(name, version=version), what)
        return found is not None

    def register_environment(self, environment: Any) -> None:
        what = f"register {environment.name}:{environment.version}"
        self.call(lambda: self.ml.environments.create_or_update(environment), what)

    # --- jobs --------------------------------------------------------------------------------

    def job(self, name: str) -> JobFacts | None:
        found = self._found(lambda: self.ml.jobs.get(name), f"read job {name}")
        if found is None:
            return None
        properties = dict(getattr(found, "properties", None) or {})
        error = properties.get("ftops.emulator.error") or properties.get("error")
        studio = (getattr(found, "services", None) or {}).get("Studio")
        outputs = {
            key: str(output.path)
            for key, output in (getattr(found, "outputs", None) or {}).items()
            if getattr(output, "path", None)
        }
        return JobFacts(
            name=name,
            status=str(getattr(found.status, "value", found.status)),  # an enum, or a string
            error=str(error) if error else None,
            studio_url=getattr(studio, "endpoint", None),
            outputs=outputs,
        )

    def submit(self, job: Any) -> None:
        self.call(lambda: self.ml.jobs.create_or_update(job), f"submit job {job.name}")

    def cancel(self, name: str) -> None:
        self.call(lambda: self.ml.jobs.begin_cancel(name).result(), f"cancel job {name}")

    def code_version(self, name: str, version: str) -> bool:
        # azure-ai-ml keeps its code-asset operations private (its jobs use them).
        what = f"read code asset {name}:{version}"
        return self._found(lambda: self.ml._code.get(name, version), what) is not None

    def register_code(self, name: str, version: str, uri: str) -> None:
        from azure.ai.ml.entities._assets import Code  # not exported either

        code = Code(name=name, version=version, path=uri)
        self.call(lambda: self.ml._code.create_or_update(code), f"register {name}:{version}")


def ensure_emulator_workspaces(url: str, workspaces: dict[str, MLWorkspaceSpec]) -> None:
    """The emulator's workspaces exist once named (as its accounts do); real ones are never
    created by ftops. A workspace that is there is only read."""
    import json
    import urllib.error
    import urllib.request

    headers = {"Authorization": "Bearer emulator", "Content-Type": "application/json"}
    for spec in workspaces.values():
        ws = MLWorkspace(spec, emulator_url=url)
        address = f"{ws.emulator_url}{ws.arm_id}?api-version={ML_API_VERSION}"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(address, headers=headers), timeout=30
            ):
                continue
        except urllib.error.HTTPError as missing:
            if missing.code != 404:
                raise
        body = json.dumps({"location": spec.region}).encode()
        create = urllib.request.Request(address, data=body, method="PUT", headers=headers)
        with urllib.request.urlopen(create, timeout=30) as reply:
            reply.read()
