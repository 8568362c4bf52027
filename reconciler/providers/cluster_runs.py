"""Training runs placed on an Azure ML compute cluster (`compute.azureML`), and the runner that
sends each run to where its spec places it.

A placed run is the same recipe as a local one: the same `spec.lock.json`, the same trainer
(`python -m reconciler.training.remote`, through torchrun when it has several processes), the
same run directory. What happens on apply, each step finding what an earlier (or crashed) apply
left:

1. the inputs (base model folder, data files, chat template) and a snapshot of ftops's code go to
   the workspace's default datastore under content addresses (`ftops/…/{sha256}/…`), uploaded only
   when absent, and are registered as versioned assets (name, version = digest) only when absent;
2. the job is named from the run key (`ftops-{name}-{key[:12]}`): a second apply finds it instead
   of submitting another; it is waited on like a fine-tune (exit 3 without `--wait`);
3. once it has completed, its output folder is downloaded into the run directory, `outputs.json`
   last (the commit marker), and the run reads as succeeded wherever it is placed next.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import localruns
from reconciler.errors import FtopsError
from reconciler.fileio import file_digest, write_json_atomic
from reconciler.live import LocalRunLive
from reconciler.plans import StartLocalRun, Why
from reconciler.providers.azureml import (
    DATASTORE_URI,
    ClusterFacts,
    JobFacts,
    MLWorkspace,
    Upload,
)
from reconciler.providers.local import OFFLINE_ENV  # the job trains offline, as here
from reconciler.specs.models import MLWorkspaceSpec

CODE_ASSET = "ftops-trainer"
PACKAGE = Path(__file__).resolve().parent.parent  # reconciler/
_SKIP_IN_SNAPSHOT = ("__pycache__", "emulator")


class ClusterRunError(FtopsError):
    """A run placed on a cluster could not be submitted, or it failed there."""


MAX_ATTEMPTS = 20


def job_name(name: str, key: str, attempt: int = 1) -> str:
    """The run key's job; a retry after a failure is the next attempt (`-2`, `-3`, ...)."""
    base = f"ftops-{name}-{key[:12]}"
    return base if attempt == 1 else f"{base}-{attempt}"


def base_address(lock: dict[str, Any]) -> str:
    """Where a run's base model is stored in the datastore: named by the digests the run key
    was computed from."""
    digest = localruns.canonical_json(lock["digests"]["base"]).encode()
    return f"ftops/models/{hashlib.sha256(digest).hexdigest()[:32]}/"


def output_prefix(name: str, job: str) -> str:
    return f"ftops/runs/{name}/{job}/"


# --- the code snapshot ----------------------------------------------------------------------


def code_files(package: Path = PACKAGE) -> list[Path]:
    """ftops's own modules and data (the trainer imports a few of them), not the emulator."""
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file()
        and not any(part in _SKIP_IN_SNAPSHOT for part in p.relative_to(package).parts)
        and p.suffix != ".pyc"
    )


def code_digest(files: list[Path], package: Path = PACKAGE) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file_digest(path).encode())
    return digest.hexdigest()


def ensure_code(ws: MLWorkspace, lock: dict[str, Any]) -> str:
    """The ARM id of the code version holding ftops's modules and this run's lock."""
    files = code_files()
    pinned = localruns.canonical_json(lock).encode()
    digest = hashlib.sha256(code_digest(files).encode() + pinned).hexdigest()
    version = digest[:16]
    code_id = f"{ws.arm_id}/codes/{CODE_ASSET}/versions/{version}"
    if ws.code_version(CODE_ASSET, version):
        return code_id
    prefix = f"ftops/code/{digest}/"
    with tempfile.TemporaryDirectory(prefix="ftops-lock-") as tmp:
        lock_file = Path(tmp) / localruns.SPEC_LOCK
        lock_file.write_bytes(pinned)
        ws.put_file(lock_file, prefix + localruns.SPEC_LOCK)
    ws.put_files(
        [Upload(p, prefix + "reconciler/" + p.relative_to(PACKAGE).as_posix()) for p in files]
    )
    ws.register_code(CODE_ASSET, version, ws.datastore_uri(prefix))
    return code_id


# --- one run's job --------------------------------------------------------------------------


@dataclass(frozen=True)
class JobInput:
    """An input of the job: local files under `root`, stored at `address` (a folder's prefix,
    or a file's name), registered as a folder (uri_folder) or a file (uri_file)."""

    root: Path
    files: tuple[Path, ...]
    address: str
    folder: bool

    def uploads(self) -> list[Upload]:
        if not self.folder:
            return [Upload(self.files[0], self.address)]
        return [Upload(f, self.address + f.relative_to(self.root).as_posix()) for f in self.files]


@dataclass(frozen=True)
class PlacedRun:
    """What a run's job needs: its inputs' content addresses, its command, its output folder."""

    name: str
    key: str
    lock: dict[str, Any]
    placement: dict[str, Any]
    attempt: int = 1

    @property
    def job_name(self) -> str:
        return job_name(self.name, self.key, self.attempt)

    @property
    def paths(self) -> dict[str, Any]:
        return dict(self.lock["paths"])

    def inputs(self) -> dict[str, JobInput]:
        """What the job reads, each under a content address made of the digests the run key
        was computed from (the lock's): nothing is hashed again here, a 7 GB base included."""
        paths, digests = self.paths, self.lock["digests"]
        model_dir = Path(paths["baseModelDir"])
        gguf = paths.get("ggufFile")
        # The files the trainer reads: the GGUF alone, or the checkpoint directory's own files.
        base_files = (
            (model_dir / gguf,)
            if gguf
            else tuple(sorted(p for p in model_dir.iterdir() if p.is_file()))
        )
        found = {"base": JobInput(model_dir, base_files, base_address(self.lock), True)}
        for name, path_key, digest in (
            ("train", "training", digests["train"]),
            ("valid", "validation", digests.get("valid")),
            ("template", "chatTemplateFile", digests["base"]["chat_template"]),
        ):
            value = paths.get(path_key)
            if value and digest:
                path = Path(value)
                address = f"ftops/files/{digest}/{path.name}"
                found[name] = JobInput(path.parent, (path,), address, False)
        return found

    def command(self, inputs: dict[str, Any]) -> str:
        args = ["--lock spec.lock.json", "--base ${{inputs.base}}", "--train ${{inputs.train}}"]
        args += ["--valid ${{inputs.valid}}"] if "valid" in inputs else []
        args += ["--template ${{inputs.template}}"] if "template" in inputs else []
        args.append("--out ${{outputs.run}}")
        nodes = int(self.placement["instanceCount"])
        per_node = int(self.placement["processesPerInstance"])
        module = "-m reconciler.training.remote " + " ".join(args)
        if nodes * per_node == 1:
            return f"python {module}"
        # Azure ML starts one process per node (processCountPerInstance 1) with MASTER_ADDR,
        # MASTER_PORT and NODE_RANK set; torchrun then starts the node's processes.
        return (
            f"python -m torch.distributed.run --nnodes {nodes} --nproc_per_node {per_node} "
            "--node_rank $NODE_RANK --master_addr $MASTER_ADDR --master_port $MASTER_PORT " + module
        )


class ClusterRuns:
    """Reads, submits, follows and downloads runs placed on Azure ML clusters."""

    def __init__(
        self,
        root: Path,
        workspaces: dict[str, MLWorkspaceSpec],
        *,
        emulator_url: str | None = None,
        project: str = "ftops",
        timeout_s: float | None = None,
        poll_interval_s: float = 2.0,
        on_progress: Callable[[str, str], None] | None = None,
    ) -> None:
        self.root = root
        self.specs = workspaces
        self.emulator_url = emulator_url
        self.project = project
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s if not emulator_url else min(poll_interval_s, 0.5)
        self.on_progress = on_progress
        self._workspaces: dict[str, MLWorkspace] = {}

    def workspace(self, name: str) -> MLWorkspace:
        if name not in self._workspaces:
            self._workspaces[name] = MLWorkspace(self.specs[name], emulator_url=self.emulator_url)
        return self._workspaces[name]

    # --- reading ---------------------------------------------------------------------------

    def read(self, name: str, key: str, placement: dict[str, Any]) -> LocalRunLive:
        """Succeeded when the run directory has the outputs (wherever they were made); else
        the job's state: missing, running, completed (partial: outputs to download), failed."""
        run_dir = localruns.run_dir(self.root, name, key)
        state = localruns.read_run_state(run_dir, verify=True)
        if state.phase == "succeeded":
            return _live(name, key, "succeeded", state.describe())
        _, job = self.latest(self.workspace(placement["workspace"]), name, key)
        where = f"Azure ML {placement['workspace']}/{placement['cluster']}"
        if job is None:
            ws = self.workspace(placement["workspace"])
            problem = self.cluster_problem(ws, placement, ws.cluster(placement["cluster"]))
            if problem is not None:  # reported by plan, before anything is uploaded
                live = _live(name, key, "missing", None)
                return live.model_copy(
                    update={"problem": problem.code, "detail": f"{problem}\n{problem.hint}"}
                )
            return _live(name, key, "missing", None)
        if job.running:
            return _live(name, key, "running", f"{job.status} on {where} (job {job.name})")
        if job.status == "Completed":
            return _live(name, key, "partial", f"completed on {where}: outputs to download")
        detail = f"job {job.name} {job.status} on {where}" + (f": {job.error}" if job.error else "")
        return _live(name, key, "failed", detail)

    # --- applying --------------------------------------------------------------------------

    def latest(self, ws: MLWorkspace, name: str, key: str) -> tuple[int, JobFacts | None]:
        """The run's newest attempt: the first job, or the retry after each failed one."""
        attempt, job = 1, ws.job(job_name(name, key))
        while job is not None and _failed(job) and attempt < MAX_ATTEMPTS:
            retry = ws.job(job_name(name, key, attempt + 1))
            if retry is None:
                break
            attempt, job = attempt + 1, retry
        return attempt, job

    def start(self, change: StartLocalRun, *, wait: bool) -> str:
        placement = dict(change.spec["spec"]["compute"]["azureML"])
        ws = self.workspace(placement["workspace"])
        attempt, job = self.latest(ws, change.name, change.key)
        if job is not None and _failed(job):
            if change.reason.why is not Why.RETRY:
                raise ClusterRunError(
                    f"Azure ML job {job.name} {job.status}: {job.error or 'no reason given'}",
                    code="LOCALRUN_FAILED",
                    hint="apply --retry-failed submits the recipe again, as a new job",
                )
            attempt, job = attempt + 1, None
        run = PlacedRun(change.name, change.key, change.spec, placement, attempt)
        if job is None:
            self._check_cluster(ws, placement)
            self._submit(ws, run)
            job = ws.job(run.job_name)
        if job is not None and job.running and not wait:
            return f"submitted to Azure ML as job {run.job_name} ({job.status})"
        if job is not None and job.running:
            job = self._wait(ws, run)
        if job is None or job.status != "Completed":
            raise ClusterRunError(
                f"Azure ML job {run.job_name} ended {job.status if job else 'missing'}"
                + (f": {job.error}" if job and job.error else ""),
                code="LOCALRUN_FAILED",
                hint=(job.error if job else None) or "see the job in Azure ML studio",
            )
        return self._download(ws, run, job)

    def _check_cluster(self, ws: MLWorkspace, placement: dict[str, Any]) -> None:
        """Before a submission: the cluster is there and fits (the emulator's is made)."""
        cluster = ws.cluster(placement["cluster"])
        if cluster is None and self.emulator_url:
            count = int(placement["instanceCount"])
            ws.create_cluster(placement["cluster"], placement["instanceType"], count)
            return
        problem = self.cluster_problem(ws, placement, cluster)
        if problem is not None:
            raise problem

    def cluster_problem(
        self, ws: MLWorkspace, placement: dict[str, Any], cluster: ClusterFacts | None
    ) -> ClusterRunError | None:
        """Why the run cannot be submitted to its cluster, or None. ftops never creates or
        resizes a real cluster: a missing one (or a smaller one) is for the team to provide."""
        name, size = placement["cluster"], placement["instanceType"]
        count = int(placement["instanceCount"])
        if cluster is None and self.emulator_url:
            return None  # made on first use, as the emulator's accounts are
        if cluster is None:
            return ClusterRunError(
                f"compute cluster {name!r} does not exist in workspace {ws.spec.workspace_name}",
                code="AML_CLUSTER_MISSING",
                hint=f"az ml compute create --name {name} --type amlcompute --size {size} "
                f"--min-instances 0 --max-instances {count}",
            )
        if cluster.size.lower() != size.lower() or cluster.max_instances < count:
            return ClusterRunError(
                f"compute cluster {name!r} is {cluster.size} with at most "
                f"{cluster.max_instances} nodes; the run asks for {count} × {size}",
                code="AML_CLUSTER_MISMATCH",
                hint="point compute.azureML at a cluster of that size, or resize the cluster",
            )
        return None

    def _submit(self, ws: MLWorkspace, run: PlacedRun) -> None:
        from azure.ai.ml import Input, Output, command
        from azure.ai.ml.entities import Environment

        inputs = {}
        for input_name, item in run.inputs().items():
            asset = self._ensure_input(ws, input_name, item)
            inputs[input_name] = Input(type="uri_folder" if item.folder else "uri_file", path=asset)
        code = self._ensure_code(ws, run)
        placement = run.placement
        job = command(
            name=run.job_name,
            display_name=run.name,
            experiment_name=f"ftops-{self.project}",
            code=code,
            command=run.command(inputs),
            inputs=inputs,
            outputs={
                "run": Output(
                    type="uri_folder",
                    path=ws.datastore_uri(output_prefix(run.name, run.job_name)),
                )
            },
            environment=Environment(image=placement["image"]),
            environment_variables=OFFLINE_ENV,
            compute=placement["cluster"],
            instance_count=int(placement["instanceCount"]),
            distribution={"type": "pytorch", "process_count_per_instance": 1},
            tags={"ftops-project": self.project, "ftops-run-key": run.key},
        )
        ws.submit(job)

    def _ensure_input(self, ws: MLWorkspace, input_name: str, item: JobInput) -> str:
        """`azureml:{asset}:{version}`: uploaded and registered only when absent."""
        digest = item.address.split("/")[2]
        asset, version = f"ftops-{input_name}", digest[:16]
        if not ws.data_version(asset, version):
            ws.put_files(item.uploads())
            ws.register_data(asset, version, ws.datastore_uri(item.address), item.folder)
        return f"azureml:{asset}:{version}"

    def _ensure_code(self, ws: MLWorkspace, run: PlacedRun) -> str:
        return ensure_code(ws, run.lock)

    def _wait(self, ws: MLWorkspace, run: PlacedRun) -> JobFacts | None:
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        seen = None
        while True:
            job = ws.job(run.job_name)
            if job is None or not job.running:
                return job
            if self.on_progress and job.status != seen:
                self.on_progress(run.name, f"{job.status} on Azure ML (job {job.name})")
            seen = job.status
            if deadline is not None and time.monotonic() > deadline:
                raise ClusterRunError(
                    f"timed out waiting for Azure ML job {run.job_name} ({job.status})",
                    code="LOCAL_RUN_TIMEOUT",
                )
            time.sleep(self.poll_interval_s)

    def _download(self, ws: MLWorkspace, run: PlacedRun, job: JobFacts) -> str:
        """The job's output folder (where the job says it is) into the run directory,
        `outputs.json` last."""
        uri = (job.outputs or {}).get("run") or ws.datastore_uri(
            output_prefix(run.name, run.job_name)
        )
        if not uri.startswith(DATASTORE_URI):
            raise ClusterRunError(
                f"Azure ML job {run.job_name} wrote its outputs to {uri}, "
                "not to the default datastore",
                code="LOCALRUN_FAILED",
            )
        run_dir = localruns.run_dir(self.root, run.name, run.key)
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ftops-download-", dir=run_dir.parent) as tmp:
            staged = Path(tmp)
            ws.download_prefix(uri[len(DATASTORE_URI) :], staged)
            if not (staged / localruns.OUTPUTS).exists():
                raise ClusterRunError(
                    f"Azure ML job {run.job_name} completed without {localruns.OUTPUTS}",
                    code="LOCALRUN_FAILED",
                    hint="see the job's user_logs in Azure ML studio",
                )
            for path in sorted(staged.rglob("*"), key=lambda p: p.name == localruns.OUTPUTS):
                if path.is_dir() or path.name in (localruns.SPEC_LOCK, localruns.LOCK):
                    continue
                target = run_dir / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                if path.name == localruns.OUTPUTS:
                    write_json_atomic(run_dir / localruns.SPEC_LOCK, run.lock)
                shutil.move(path, target)
        state = localruns.read_run_state(run_dir, verify=True)
        if state.phase != "succeeded":
            raise ClusterRunError(
                f"the outputs of Azure ML job {run.job_name} do not verify ({state.phase})",
                code="LOCALRUN_FAILED",
            )
        return f"{state.describe()} on Azure ML (job {run.job_name}), downloaded"


def _failed(job: JobFacts) -> bool:
    return not job.running and job.status != "Completed"


def _live(name: str, key: str, phase: str, detail: str | None) -> LocalRunLive:
    return LocalRunLive(name=name, key=key, phase=phase, detail=detail)


class PlacedRuns:
    """The runner apply uses: each run goes where its spec places it (this machine, or an
    Azure ML cluster), and a run whose outputs are in its run directory is done wherever it
    is placed next."""

    def __init__(self, local: Any, cluster: ClusterRuns | None) -> None:
        self.local = local
        self.cluster = cluster

    def read(self, name: str, key: str, placement: dict[str, Any] | None = None) -> LocalRunLive:
        if placement is None or self.cluster is None:
            return self.local.read(name, key)
        return self.cluster.read(name, key, placement)

    def start(self, change: StartLocalRun, *, wait: bool) -> str:
        if change.spec["spec"]["compute"].get("azureML") is None:
            return self.local.start(change, wait=wait)
        if self.cluster is None:
            raise ClusterRunError(f"{change.name} is placed on Azure ML, and no workspace is open")
        return self.cluster.start(change, wait=wait)
