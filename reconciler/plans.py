"""The plan as frozen data: what `apply` executes and the renderers print. JSON round-trips.

A plan is a tuple of typed changes, one type per thing apply can do (`UploadFile`, `TrainJob`,
`PutDeployment`, …) plus `Wait` and `Keep` for what is in flight or already right. Each change
has an `Address`, an `Action` and a `Reason` whose class says *why* (new, spec changed, upstream
changed, changed outside ftops, …) and whose field diffs say *what*. Apply never looks at the
specs; the wire format (ARM bodies, `n_epochs`) is the Azure provider's business.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from reconciler.errors import Diagnostic
from reconciler.specs.models import Method, Sku

# 2: typed changes (a `type` per change), structured reasons with field diffs, addresses as
# `kind/account/name` strings. Version-1 plans are refused: plan again.
PLAN_FORMAT_VERSION = 2
UNKNOWN = "(known after training)"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Kind(StrEnum):
    FILE = "file"
    FINETUNE = "finetune"
    DEPLOYMENT = "deployment"
    LOCALRUN = "localrun"
    TRAININGRUN = "trainingrun"  # LocalRun's new name: the address says which the spec wrote


class Address(Frozen):
    """`kind/account/name` (`trainingrun/name` or `localrun/name` for runs): one resource,
    printable, parsable."""

    kind: Kind
    account: str | None = None
    name: str

    def __str__(self) -> str:
        middle = f"{self.account}/" if self.account else ""
        return f"{self.kind.value}/{middle}{self.name}"

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, _, rest = value.partition("/")
        local = kind in (Kind.LOCALRUN, Kind.TRAININGRUN)
        account, _, name = rest.rpartition("/") if not local else ("", "", rest)
        return {"kind": kind, "account": account or None, "name": name}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    TRAIN = "train"
    UPLOAD = "upload"
    PAUSE = "pause"
    RESUME = "resume"
    WAIT = "wait"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def writes(self) -> bool:
        return self not in (Action.WAIT, Action.NOOP)


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.TRAIN: "+",
    Action.UPLOAD: "↑",
    Action.PAUSE: "‖",
    Action.RESUME: "»",
    Action.WAIT: "…",
    Action.NOOP: " ",
}


class Why(StrEnum):
    """The class of a reason: what kind of difference between specs and live state it is."""

    NEW = "new"
    SPEC_CHANGED = "spec-changed"
    UPSTREAM_CHANGED = "upstream-changed"
    DRIFTED = "drifted"
    MISSING = "missing"
    RETRY = "retry"
    RESUME = "resume"
    IN_PROGRESS = "in-progress"
    UP_TO_DATE = "up-to-date"
    FAILED = "failed"
    NOT_OWNED = "not-owned"
    PRUNE = "prune"
    PAUSED = "paused"  # a job paused (by a person or by Azure) and left so until the spec says
    EXPIRED = "expired"  # removed by Azure's own rule (Developer deployments last 24 hours)


class FieldDiff(Frozen):
    """One field that differs. `before` is the live (or last trained) value, `after` the spec's;
    `why` says which side moved: the spec, an upstream fine-tune, or the live object."""

    path: str
    before: Any = None
    after: Any = None
    why: Why = Why.SPEC_CHANGED
    forces_replacement: bool = False
    note: str | None = None
    dataset: str | None = None  # for data fields: before and after are the content digests


class Reason(Frozen):
    why: Why
    detail: str | None = None
    fields: tuple[FieldDiff, ...] = ()


# --- the changes --------------------------------------------------------------------------


class ChangeBase(Frozen):
    address: Address
    action: Action
    reason: Reason
    depends_on: tuple[Address, ...] = ()

    @property
    def kind(self) -> Kind:
        return self.address.kind

    @property
    def account(self) -> str | None:
        return self.address.account

    def ids(self) -> dict[str, str]:
        """The live identifiers a receipt records."""
        return {}


class UploadFile(ChangeBase):
    type: Literal["upload-file"] = "upload-file"
    action: Action = Action.UPLOAD
    dataset: str
    filename: str
    path: str
    digest: str
    bytes: int | None = None


class DeleteFile(ChangeBase):
    type: Literal["delete-file"] = "delete-file"
    action: Action = Action.DELETE
    file_id: str
    filename: str

    def ids(self) -> dict[str, str]:
        return {"file_id": self.file_id}


class TrainJob(ChangeBase):
    """Start a fine-tuning job. `base_model` is None while it is an upstream's model to come."""

    type: Literal["train-job"] = "train-job"
    action: Action = Action.TRAIN
    fine_tune: str
    suffix: str
    base_model: str | None
    upstream: str | None = None
    training_file: str
    validation_file: str | None = None
    file_ids: dict[str, str] = {}  # filename → id, for the files processed by now
    method: Method
    seed: int | None = None
    training_type: str | None = None
    key: str = ""  # the job key, written into the job's metadata
    project: str = ""

    @property
    def ready(self) -> bool:
        needed = [f for f in (self.training_file, self.validation_file) if f]
        return self.base_model is not None and all(f in self.file_ids for f in needed)


class PauseJob(ChangeBase):
    """Pause a training job (`paused: true`); Azure keeps its checkpoints."""

    type: Literal["pause-job"] = "pause-job"
    action: Action = Action.PAUSE
    job_id: str

    def ids(self) -> dict[str, str]:
        return {"job_id": self.job_id}


class ResumeJob(ChangeBase):
    """Resume a paused job (`paused: false`): training, and billing, go on."""

    type: Literal["resume-job"] = "resume-job"
    action: Action = Action.RESUME
    job_id: str

    def ids(self) -> dict[str, str]:
        return {"job_id": self.job_id}


class Step(StrEnum):
    """The calls one deployment change takes, in order."""

    PUT = "put"
    PUT_KEEP_CAPACITY = "put-keep-capacity"  # Azure refuses a model and a capacity change at once
    PATCH_SKU = "patch-sku"
    DELETE = "delete"


class ServedAdapter(Frozen):
    """A TrainingRun's adapter, served by a managed online endpoint of the run's workspace."""

    run: str
    run_key: str
    image: str  # the run's image: it has the trainer's torch, transformers and peft


class DeploymentTarget(Frozen):
    """The deployment as the specs want it; the provider turns it into an ARM body."""

    name: str
    model: str | None  # None: known after training
    model_version: str
    trained_in: str | None = None  # the account the model was trained in, when it is another
    sku: Sku
    rai_policy: str | None = None
    version_upgrade_option: str | None = None
    project: str
    key: str
    spec_key: str = ""
    protect: bool = False
    adapter: ServedAdapter | None = None


class PutDeployment(ChangeBase):
    type: Literal["put-deployment"] = "put-deployment"
    target: DeploymentTarget
    steps: tuple[Step, ...] = (Step.PUT,)
    live_capacity: int | None = None
    fine_tune: str | None = None

    def ids(self) -> dict[str, str]:
        return {"deployment_name": self.target.name}


class DeleteDeployment(ChangeBase):
    type: Literal["delete-deployment"] = "delete-deployment"
    action: Action = Action.DELETE
    deployment_name: str

    def ids(self) -> dict[str, str]:
        return {"deployment_name": self.deployment_name}


class StartLocalRun(ChangeBase):
    """Train (or resume) a local run in its content-addressed run directory."""

    type: Literal["start-local-run"] = "start-local-run"
    action: Action = Action.TRAIN
    name: str
    key: str
    spec: dict[str, Any]  # the resolved spec.lock.json

    def ids(self) -> dict[str, str]:
        return {"key": self.key}


class Wait(ChangeBase):
    """Something in flight: a file processing, a job training, a deployment provisioning."""

    type: Literal["wait"] = "wait"
    action: Action = Action.WAIT
    progress: str | None = None
    live_id: str | None = None
    step: int | None = None  # for a progress bar: how far, of how many
    total: int | None = None

    def ids(self) -> dict[str, str]:
        return _live_ids(self.kind, self.live_id, None)


class Keep(ChangeBase):
    """Nothing to do: up to date, or left alone with a diagnostic saying why."""

    type: Literal["keep"] = "keep"
    action: Action = Action.NOOP
    live_id: str | None = None
    model: str | None = None

    def ids(self) -> dict[str, str]:
        return _live_ids(self.kind, self.live_id, self.model)


def _live_ids(kind: Kind, live_id: str | None, model: str | None) -> dict[str, str]:
    name = {Kind.FILE: "file_id", Kind.FINETUNE: "job_id", Kind.DEPLOYMENT: "deployment_name"}
    ids = {name[kind]: live_id} if live_id and kind in name else {}
    return ids | ({"fine_tuned_model": model} if model else {})


Change = Annotated[
    UploadFile
    | DeleteFile
    | TrainJob
    | PauseJob
    | ResumeJob
    | PutDeployment
    | DeleteDeployment
    | StartLocalRun
    | Wait
    | Keep,
    Field(discriminator="type"),
]


# --- estimates ----------------------------------------------------------------------------


class TrainingEstimate(Frozen):
    fine_tune: str
    base_model: str
    examples: int | None = None
    billable_tokens: int | None = None
    epochs: int | None = None
    epochs_heuristic: bool = False
    trained_tokens: int | None = None
    cost_usd: float | None = None
    price_source: str | None = None
    tier: str | None = None  # the training tier, when the spec names one
    hours: float | None = None  # reinforcement: billed by the hour
    usd_per_hour: float | None = None
    cost_cap_usd: float | None = None  # reinforcement: Azure pauses the job at this cost
    resume: bool = False  # the cost of resuming a paused job (at most the whole job's)
    choice: bool = False  # a cost this plan does not pay: resuming a job left paused


class HostingEstimate(Frozen):
    deployment: str
    usd_per_hour: float | None = None
    price_source: str | None = None


class DataDiff(Frozen):
    dataset: str
    account: str
    previous_file: str
    added_examples: int
    removed_examples: int
    token_delta: int | None = None
    new_problems: tuple[str, ...] = ()


class Estimates(Frozen):
    """Labelled as estimates wherever they are shown."""

    training: tuple[TrainingEstimate, ...] = ()
    hosting: tuple[HostingEstimate, ...] = ()
    data_diffs: tuple[DataDiff, ...] = ()

    @property
    def training_cost_usd(self) -> float:
        return sum(t.cost_usd or 0.0 for t in self.training if not t.choice)

    @property
    def hosting_usd_per_hour(self) -> float:
        return sum(h.usd_per_hour or 0.0 for h in self.hosting)

    def data_diff(self, dataset: str) -> DataDiff | None:
        return next((d for d in self.data_diffs if d.dataset == dataset), None)


# --- the plan -----------------------------------------------------------------------------


class GraderCheck(Frozen):
    """A reinforcement fine-tune's grader as the service's grader validation judged it."""

    fine_tune: str
    grader: str  # "python grader 'exact'"
    valid: bool
    message: str | None = None


class PlanOptions(Frozen):
    prune: bool = False
    retry_failed: bool = False
    force: bool = False  # delete a protected deployment
    destroy: bool = False  # plan deletes of everything the project owns, nothing else
    refresh_only: bool = False  # only what changed outside ftops


def kept_because(change: Change, *why: Why) -> bool:
    """A `Keep` for one of these reasons (absent and held ones are reported, not converged)."""
    return isinstance(change, Keep) and change.reason.why in why


class Plan(Frozen):
    """A saved plan is a contract: `apply --plan` runs only its changes, and only while the specs
    and data (`desired_fingerprint`) and the live state (`live_fingerprint`) are as they were."""

    format_version: Literal[2] = 2  # PLAN_FORMAT_VERSION
    project: str
    options: PlanOptions = PlanOptions()
    changes: tuple[Change, ...] = ()
    estimates: Estimates = Estimates()
    diagnostics: tuple[Diagnostic, ...] = ()
    grader_checks: tuple[GraderCheck, ...] = ()
    desired_fingerprint: str = ""
    live_fingerprint: str = ""

    @property
    def pending(self) -> tuple[Change, ...]:
        """Changes that write something."""
        return tuple(c for c in self.changes if c.action.writes)

    @property
    def waits(self) -> tuple[Wait, ...]:
        return tuple(c for c in self.changes if isinstance(c, Wait))

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def absent(self) -> tuple[Change, ...]:
        """Declared, missing, and left so on purpose (onMissing: warn): never converged."""
        return tuple(c for c in self.changes if kept_because(c, Why.MISSING))

    @property
    def held(self) -> tuple[Change, ...]:
        """Paused jobs (and what waits for their models), left so until the spec says resume."""
        return tuple(c for c in self.changes if kept_because(c, Why.PAUSED))

    @property
    def is_converged(self) -> bool:
        return not self.pending and not self.waits and not self.absent and not self.held

    def counts(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        return counts

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)


_RESOLVED_WHILE_APPLYING = {"reason", "depends_on", "file_ids", "live_capacity"}


def same_change(saved: Change, current: Change) -> bool:
    """`current` is the change `saved` promised, up to what only applying it can tell: file ids,
    and a model that was "known after training" then."""
    if (saved.type, saved.address, saved.action) != (current.type, current.address, current.action):
        return False
    a = saved.model_dump(mode="json", exclude=_RESOLVED_WHILE_APPLYING)
    b = current.model_dump(mode="json", exclude=_RESOLVED_WHILE_APPLYING)
    if isinstance(saved, TrainJob) and saved.base_model is None:
        a["base_model"] = b["base_model"]
    if isinstance(saved, PutDeployment) and saved.target.model is None:
        a["target"]["model"] = b["target"]["model"]
    return a == b


def fingerprint(data: Any) -> str:
    """A stable hash of JSON-able data (sorted keys, no whitespace)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
