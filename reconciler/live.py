"""The live-state types: what Azure (or the emulator, or the local run directory) reports.

Read through a provider, one list call per account per resource type; pure data here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

TERMINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})
TAG_KEY_METADATA = "ftops-key"  # the job key, in a job's metadata
# Accounts are read, ensured and applied in parallel, one thread each up to this many: the
# calls wait on the network, not on this machine's cores.
MAX_ACCOUNT_WORKERS = 32


class LiveModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class LiveFile(LiveModel):
    id: str
    filename: str
    status: str
    bytes: int | None = None
    purpose: str = "fine-tune"
    status_details: str | None = None
    created_at: int | None = None


class LiveCheckpoint(LiveModel):
    id: str
    step_number: int
    model: str


class LiveJob(LiveModel):
    id: str
    status: str
    model: str
    suffix: str | None = None
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    created_at: int | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    # The inputs Azure recorded, in the specs' names (`epochs`, not `n_epochs`): what a retrain's
    # reason is compared against.
    method: str | None = None
    hyperparameters: dict[str, Any] = {}
    seed: int | None = None
    error: str | None = None
    estimated_finish: int | None = None
    result_files: tuple[str, ...] = ()  # file ids of results.csv, once the job has ended
    checkpoints: tuple[LiveCheckpoint, ...] = ()
    # From the newest metrics event: read while the job runs (for progress), and for `status`.
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    metadata: dict[str, str] = {}
    training_type: str | None = None
    # For a paused job, the service's own words (its newest "Job paused…" event) and who it was.
    paused_by: Literal["person", "azure"] | None = None
    pause_reason: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATES

    @property
    def is_paused(self) -> bool:
        return self.status == "paused"

    @property
    def label(self) -> str:
        """The suffix without its key: what every job of one fine-tune shares."""
        return (self.suffix or "").rsplit("-", 1)[0]


class LiveDeployment(LiveModel):
    name: str
    model_name: str | None = None
    model_version: str | None = None
    model_format: str | None = None
    source: str | None = None
    source_account: str | None = None
    trained_in: str | None = None  # the declared account whose ARM id `source` names
    sku_name: str | None = None
    capacity: int | None = None
    rai_policy: str | None = None
    version_upgrade_option: str | None = None
    tags: dict[str, str] = {}
    provisioning_state: str | None = None
    traffic: int | None = None  # a managed online endpoint's share for ftops's deployment

    @property
    def is_settled(self) -> bool:
        return (self.provisioning_state or "Succeeded") in {"Succeeded", "Failed", "Canceled"}


class LiveUsage(LiveModel):
    """One of the account's usages (ARM `Accounts_ListUsages`): what it uses, and its limit."""

    current: float
    limit: float | None = None


class AccountLive(LiveModel):
    account: str
    files: tuple[LiveFile, ...] = ()
    jobs: tuple[LiveJob, ...] = ()
    deployments: tuple[LiveDeployment, ...] = ()
    # By usage name, e.g. OpenAI.FineTunedDeployments; None: not read, because the plan adds
    # nothing that a usage counts (reading.with_usages reads them where it does).
    usages: dict[str, LiveUsage] | None = None
    read_at: int | None = None  # the service's clock at the read (its Date header)

    def file_named(self, filename: str) -> LiveFile | None:
        """The best file with this name: processed first, then in progress, then failed."""
        rank = {"processed": 0, "uploaded": 1, "pending": 1, "running": 1, "error": 2}
        matches = [f for f in self.files if f.filename == filename and f.status != "deleted"]
        return min(
            matches, key=lambda f: (rank.get(f.status, 3), -(f.created_at or 0)), default=None
        )

    def file_with_id(self, file_id: str) -> LiveFile | None:
        return next((f for f in self.files if f.id == file_id), None)

    def job_for(self, key: str, suffix: str) -> LiveJob | None:
        """The newest job of this job key: by the key in its metadata, else (jobs of APIs or
        ftops versions that wrote none) by the key in its suffix."""
        matches = [j for j in self.jobs if j.metadata.get(TAG_KEY_METADATA) == key]
        matches = matches or [j for j in self.jobs if j.suffix == suffix]
        return max(matches, key=lambda j: j.created_at or 0, default=None)

    def deployment(self, name: str) -> LiveDeployment | None:
        return next((d for d in self.deployments if d.name == name), None)


class LocalRunLive(LiveModel):
    name: str
    key: str
    phase: str  # missing | partial | running | succeeded | failed
    step: int | None = None
    max_steps: int | None = None
    last_checkpoint: int | None = None  # the step of the newest complete checkpoint
    detail: str | None = None
    problem: str | None = None  # a code: why it cannot start where it is placed (detail: why)


class LiveState(LiveModel):
    accounts: dict[str, AccountLive] = {}
    local_runs: dict[str, LocalRunLive] = {}
    read_at: int | None = None  # unix seconds of the read, for the 15-day rule

    def summary(self) -> dict[str, Any]:
        """What the saved-plan fingerprint covers: everything a plan was computed from."""
        return self.model_dump(mode="json")
