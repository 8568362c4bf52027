"""Specs → desired resources: references resolved, identities and keys computed. Pure.

Facts that need I/O (dataset digests and token counts, local base-model digests) are computed
by the caller and passed in, so this module stays a function of its inputs.
"""

from __future__ import annotations

import graphlib
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from reconciler.errors import Location
from reconciler.plans import Address, Kind, fingerprint
from reconciler.specs.fields import key_view
from reconciler.specs.loading import Document
from reconciler.specs.models import (
    AccountSpec,
    BaseModelRef,
    DatasetSpec,
    DeploymentSpec,
    FineTuneRef,
    FineTuneSpec,
    LocalRunSpec,
    Method,
    MLWorkspaceSpec,
    Policy,
    ProjectSpec,
    Sku,
    SmokeTest,
    TrainingRunRef,
)
from reconciler.specs.models import Kind as SpecKind
from reconciler.specs.references import upstreams

SUFFIX_LIMIT = 40  # Azure: at most 40 characters of [a-zA-Z0-9_-]
KEY_IN_SUFFIX = 8
TAG_PROJECT = "ftops-project"
TAG_KEY = "ftops-key"
# Written while protect: true, so that removing the YAML does not unprotect the deployment.
TAG_PROTECT = "ftops-protect"
# The hash of the deployment's own fields: when it matches, a live difference is drift even if an
# upstream retrain moved `ftops-key`.
TAG_SPEC = "ftops-spec"
# A serverless endpoint bills per token: its sku is Consumption, and it has no capacity to set.
SERVERLESS_SKU = Sku(name="Consumption", capacity=1)


class Desired(BaseModel):
    model_config = ConfigDict(frozen=True)


class DatasetFacts(Desired):
    """What the caller learned by reading a dataset file."""

    name: str
    digest: str
    path: str
    examples: int | None = None
    billable_tokens: int | None = None
    format: str | None = None
    bytes: int | None = None


class DesiredFile(Desired):
    account: str
    dataset: str
    filename: str
    digest: str
    path: str
    bytes: int | None = None

    @property
    def address(self) -> Address:
        return Address(kind=Kind.FILE, account=self.account, name=self.dataset)


class DesiredFineTune(Desired):
    name: str
    account: str
    key: str
    suffix: str
    base_model: str | None  # a model id, or None when it is an upstream fine-tune's output
    upstream: str | None
    training_file: str
    validation_file: str | None
    training_dataset: str
    validation_dataset: str | None
    method: Method
    seed: int | None
    training_type: str | None = None
    paused: bool | None = None
    location: Location

    @property
    def label(self) -> str:
        """The suffix without the key: what every version of this fine-tune's jobs shares."""
        return self.suffix.rsplit("-", 1)[0]

    @property
    def address(self) -> Address:
        return Address(kind=Kind.FINETUNE, account=self.account, name=self.name)


class DesiredDeployment(Desired):
    name: str
    account: str
    deployment_name: str
    fine_tune: str | None
    checkpoint_epoch: int | None
    base_model: str | None
    base_version: str | None
    sku: Sku
    rai_policy: str | None
    version_upgrade_option: str | None
    protect: bool
    on_missing: str
    smoke_test: SmokeTest | None = None
    training_run: str | None = None  # a TrainingRun's adapter, on a managed online endpoint
    key: str
    spec_key: str  # the deployment's own fields only (its model as named, not the upstream's key)
    location: Location

    @property
    def address(self) -> Address:
        return Address(kind=Kind.DEPLOYMENT, account=self.account, name=self.deployment_name)


class DesiredLocalRun(Desired):
    name: str
    key: str
    spec: dict[str, Any]
    location: Location
    kind: str = "LocalRun"  # or TrainingRun: the same run, as the document names it
    workspace: MLWorkspaceSpec | None = None  # where compute.azureML places it

    @property
    def address(self) -> Address:
        kind = Kind.TRAININGRUN if self.kind == "TrainingRun" else Kind.LOCALRUN
        return Address(kind=kind, name=self.name)

    @property
    def placement(self) -> dict[str, Any] | None:
        """The resolved compute.azureML, when the run is placed on a cluster."""
        placed = self.spec.get("spec", {}).get("compute", {}).get("azureML")
        return dict(placed) if placed else None


class DesiredState(Desired):
    project: str
    project_spec: ProjectSpec
    accounts: dict[str, AccountSpec]
    account_locations: dict[str, Location] = {}  # where each Account's region is written
    datasets: dict[str, DatasetSpec]
    facts: dict[str, DatasetFacts]
    files: tuple[DesiredFile, ...]
    fine_tunes: tuple[DesiredFineTune, ...]  # upstream before downstream
    deployments: tuple[DesiredDeployment, ...]
    local_runs: tuple[DesiredLocalRun, ...] = ()
    ml_workspaces: dict[str, MLWorkspaceSpec] = {}
    # The MLWorkspaces (hub projects) that fine-tunes train in, deployments serve from, or that
    # are declared: plans treat each like an account, by its name (reads, prune, destroy).
    # Asked for per resource, so found once here.
    hubs: dict[str, MLWorkspaceSpec] = {}

    @property
    def policy(self) -> Policy:
        return self.project_spec.policy

    def region_of(self, target: str) -> str:
        """The region of an account or of a hub project."""
        spec = self.accounts.get(target) or self.ml_workspaces[target]
        return spec.region

    def kind_of(self, target: str) -> str:
        """An account's kind (OpenAI, AIServices), or MLWorkspace for a hub project."""
        account = self.accounts.get(target)
        return account.kind if account else "MLWorkspace"

    @property
    def placed_workspaces(self) -> dict[str, MLWorkspaceSpec]:
        """The MLWorkspaces that runs are placed on (compute.azureML)."""
        names = {r.placement["workspace"] for r in self.local_runs if r.placement}
        return {n: self.ml_workspaces[n] for n in sorted(names) if n in self.ml_workspaces}

    def fine_tune(self, name: str) -> DesiredFineTune:
        return next(f for f in self.fine_tunes if f.name == name)

    def file(self, account: str, dataset: str) -> DesiredFile:
        return next(f for f in self.files if f.account == account and f.dataset == dataset)


def build_desired(
    documents: list[Document],
    facts: dict[str, DatasetFacts],
    local_runs: tuple[DesiredLocalRun, ...] = (),
) -> DesiredState:
    """Assumes `check_references` found no errors and `facts` covers every Dataset in use."""
    by_kind = _by_kind(documents)
    project = by_kind["Project"][0]
    fine_tunes = _fine_tunes(project.name, by_kind["FineTune"], facts)
    runs = {r.name: r for r in local_runs}
    deployments = tuple(_deployment(d, fine_tunes, runs) for d in by_kind["Deployment"])
    workspaces = {d.name: d.spec for d in by_kind["MLWorkspace"]}
    # Every MLWorkspace is read like an account (so prune finds the endpoints of Deployments
    # that left the specs), but one that shares an Account's name: the two may share a name
    # only when the MLWorkspace trains no FineTune and serves no Deployment.
    accounts = {d.name for d in by_kind["Account"]}
    served = {f.account for f in fine_tunes} | {d.account for d in deployments} | set(workspaces)
    served -= accounts
    return DesiredState(
        project=project.name,
        project_spec=project.spec,
        accounts={d.name: d.spec for d in by_kind["Account"]},
        account_locations={d.name: d.at("region") for d in by_kind["Account"]},
        datasets={d.name: d.spec for d in by_kind["Dataset"]},
        facts=facts,
        files=_files(project.name, fine_tunes, facts),
        fine_tunes=fine_tunes,
        deployments=deployments,
        local_runs=local_runs,
        ml_workspaces=workspaces,
        hubs={n: workspaces[n] for n in sorted(served) if n in workspaces},
    )


def _by_kind(documents: list[Document]) -> dict[str, list[Document]]:
    kinds: dict[str, list[Document]] = {k: [] for k in get_args(SpecKind)}
    for doc in documents:
        kinds[doc.kind].append(doc)
    return kinds


def file_name(project: str, dataset: str, digest: str) -> str:
    """`{project}.{dataset}.{sha256[:16]}.jsonl`: the name is all Azure keeps of a file, so it says
    whose it is (names have no '.', so the parts cannot run together) and what it holds (same
    bytes, same name: no re-upload ever)."""
    return f"{file_prefix(project, dataset)}{digest[:16]}.jsonl"


def file_prefix(project: str, dataset: str | None = None) -> str:
    """What every file of a project (of one of its datasets) starts with."""
    return f"{project}." + (f"{dataset}." if dataset else "")


def file_digest_of(filename: str) -> str:
    """The content digest (16 hex) in a file name that `file_name` made; the name otherwise."""
    parts = filename.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-1] == "jsonl" else filename


def _fine_tunes(
    project: str, docs: list[Document], facts: dict[str, DatasetFacts]
) -> tuple[DesiredFineTune, ...]:
    by_name = {d.name: d for d in docs}
    order = graphlib.TopologicalSorter({d.name: upstreams(d.spec) for d in docs}).static_order()
    built: dict[str, DesiredFineTune] = {}
    for name in order:
        if name in by_name:
            built[name] = _fine_tune(project, by_name[name], built, facts)
    return tuple(built.values())


def _fine_tune(
    project: str, doc: Document, built: dict[str, DesiredFineTune], facts: dict[str, DatasetFacts]
) -> DesiredFineTune:
    spec: FineTuneSpec = doc.spec  # type: ignore[assignment]
    upstream = spec.base_model.fine_tune if isinstance(spec.base_model, FineTuneRef) else None
    train = facts[spec.training_data]
    valid = facts[spec.validation_data] if spec.validation_data else None
    resolved = {
        "base": {"fineTune": built[upstream].key} if upstream else spec.base_model,
        "training": train.digest,
        "validation": valid.digest if valid else None,
    }
    key = fingerprint(key_view(spec) | resolved)
    return DesiredFineTune(
        name=doc.name,
        account=target_name(spec),
        key=key,
        suffix=job_suffix(spec.suffix or doc.name, key),
        base_model=None if upstream else str(spec.base_model),
        upstream=upstream,
        training_file=file_name(project, train.name, train.digest),
        validation_file=file_name(project, valid.name, valid.digest) if valid else None,
        training_dataset=train.name,
        validation_dataset=valid.name if valid else None,
        method=spec.method,
        seed=spec.seed,
        training_type=spec.training_type,
        paused=spec.paused,
        location=doc.location,
    )


def target_name(spec: FineTuneSpec | DeploymentSpec) -> str:
    """The account, or the hub project's MLWorkspace, by name: plans address both alike."""
    target = spec.account or spec.workspace
    assert target is not None  # the spec model requires one
    return target


def job_suffix(label: str, key: str) -> str:
    """`{label}-{key[:8]}`: the job is found by its key even if its files were deleted."""
    room = SUFFIX_LIMIT - KEY_IN_SUFFIX - 1
    return f"{label[:room]}-{key[:KEY_IN_SUFFIX]}"


def _files(
    project: str, fine_tunes: tuple[DesiredFineTune, ...], facts: dict[str, DatasetFacts]
) -> tuple[DesiredFile, ...]:
    files: dict[tuple[str, str], DesiredFile] = {}
    for ft in fine_tunes:
        for dataset in filter(None, (ft.training_dataset, ft.validation_dataset)):
            fact = facts[dataset]
            files[(ft.account, dataset)] = DesiredFile(
                account=ft.account,
                dataset=dataset,
                filename=file_name(project, dataset, fact.digest),
                digest=fact.digest,
                path=fact.path,
                bytes=fact.bytes,
            )
    return tuple(files.values())


def _deployment(
    doc: Document, fine_tunes: tuple[DesiredFineTune, ...], runs: dict[str, DesiredLocalRun]
) -> DesiredDeployment:
    spec: DeploymentSpec = doc.spec  # type: ignore[assignment]
    model = spec.model
    fields: dict[str, Any]
    if isinstance(model, TrainingRunRef):
        fields = {
            "fine_tune": None,
            "checkpoint_epoch": None,
            "base_model": None,
            "base_version": None,
            "training_run": model.training_run,
        }
        model_identity: Any = {"trainingRun": runs[model.training_run].key}
    elif isinstance(model, BaseModelRef):
        fields = {
            "fine_tune": None,
            "checkpoint_epoch": None,
            "base_model": model.base,
            "base_version": model.version,
        }
        model_identity = {"base": model.base, "version": model.version}
    else:
        upstream = next(f for f in fine_tunes if f.name == model.fine_tune)
        epoch = model.checkpoint.epoch if model.checkpoint else None
        fields = {
            "fine_tune": model.fine_tune,
            "checkpoint_epoch": epoch,
            "base_model": None,
            "base_version": None,
        }
        model_identity = {
            "fineTune": upstream.key,
            "account": upstream.account,
            "checkpointEpoch": epoch,
        }
    name = spec.deployment_name or doc.name
    own = key_view(spec) | {"name": name}
    key = fingerprint(own | {"model": model_identity})
    return DesiredDeployment(
        name=doc.name,
        account=target_name(spec),
        deployment_name=name,
        sku=spec.sku if spec.account or fields.get("training_run") else SERVERLESS_SKU,
        rai_policy=spec.rai_policy,
        version_upgrade_option=spec.version_upgrade_option,
        protect=spec.protect,
        on_missing=spec.on_missing,
        smoke_test=spec.smoke_test,
        key=key[:16],
        spec_key=fingerprint(own)[:16],
        location=doc.location,
        **fields,
    )


def adapter_model_name(run: str, key: str) -> str:
    """The model a TrainingRun's adapter is registered as in its workspace: one per run key."""
    return f"ftops-{run}-{key[:12]}"


def local_run_specs(documents: list[Document]) -> list[tuple[Document, LocalRunSpec]]:
    return [(d, d.spec) for d in documents if isinstance(d.spec, LocalRunSpec)]
