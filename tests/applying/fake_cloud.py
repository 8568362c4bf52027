"""An in-memory cloud behind the `CloudProvider` interface: no HTTP, no SDK. Files process and
jobs succeed at once, so the applier can be tested on its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.live import AccountLive, LiveDeployment, LiveFile, LiveJob, LiveUsage
from reconciler.plans import DeploymentTarget, TrainJob
from reconciler.providers.azure import deployment_tags
from reconciler.specs.models import Grader, Sku


@dataclass
class FakeCloud:
    accounts: dict[str, AccountLive] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    ignore_deployments: bool = False  # a cloud that answers 200 and keeps nothing
    usage_reads: list[str] = field(default_factory=list)
    progress_reads: list[str] = field(default_factory=list)
    account_reads: int = 0

    def _acct(self, account: str) -> AccountLive:
        return self.accounts.setdefault(account, AccountLive(account=account))

    def _set(self, account: str, **parts: object) -> None:
        self.accounts[account] = self._acct(account).model_copy(update=parts)

    def read_account(
        self,
        account: str,
        *,
        checkpoints_for: frozenset[str],
        metrics_for: frozenset[str] = frozenset(),
    ) -> AccountLive:
        self.account_reads += 1
        return self._acct(account).model_copy(update={"usages": None})

    def with_progress(self, account: str, job: LiveJob) -> LiveJob:
        self.progress_reads.append(job.suffix)
        return job

    def read_usages(self, account: str) -> dict[str, LiveUsage]:
        self.usage_reads.append(account)
        return self._acct(account).usages or {}

    def upload_file(self, account: str, filename: str, path: Path) -> str:
        self.writes.append(f"upload {filename}")
        acct = self._acct(account)
        new = LiveFile(id=f"file-{len(acct.files)}", filename=filename, status="processed")
        self._set(account, files=(*acct.files, new))
        return new.id

    def create_job(self, account: str, job: TrainJob) -> LiveJob:
        self.writes.append(f"train {job.suffix}")
        acct = self._acct(account)
        created = LiveJob(
            id=f"ftjob-{len(acct.jobs)}",
            status="succeeded",
            model=job.base_model or "",
            suffix=job.suffix,
            created_at=len(acct.jobs) + 1,
            fine_tuned_model=f"{job.base_model}.ft-{job.suffix}",
            training_file=job.file_ids[job.training_file],
            method=job.method.type,
            seed=job.seed,
        )
        self._set(account, jobs=(*acct.jobs, created))
        return created

    def _set_status(self, account: str, job_id: str, status: str) -> None:
        acct = self._acct(account)
        jobs = tuple(
            j.model_copy(update={"status": status}) if j.id == job_id else j for j in acct.jobs
        )
        self._set(account, jobs=jobs)

    def pause_job(self, account: str, job_id: str) -> None:
        self.writes.append(f"pause {job_id}")
        self._set_status(account, job_id, "paused")

    def resume_job(self, account: str, job_id: str) -> None:
        self.writes.append(f"resume {job_id}")
        self._set_status(account, job_id, "running")

    def validate_grader(self, account: str, grader: Grader) -> str | None:
        self.writes.append(f"validate {grader.name}")  # a read, for the tests to see the call
        return None if "bad" not in grader.name else f"grader {grader.name!r} is bad"

    def put_deployment(
        self, account: str, target: DeploymentTarget, *, capacity: int | None = None
    ) -> None:
        self.writes.append(f"put {target.name}")
        if self.ignore_deployments:
            return
        live = LiveDeployment(
            name=target.name,
            model_name=target.model,
            model_version=target.model_version,
            trained_in=target.trained_in,
            sku_name=target.sku.name,
            capacity=target.sku.capacity if capacity is None else capacity,
            rai_policy=target.rai_policy,
            version_upgrade_option=target.version_upgrade_option,
            tags=deployment_tags(target),
            provisioning_state="Succeeded",
        )
        others = [d for d in self._acct(account).deployments if d.name != target.name]
        self._set(account, deployments=(*others, live))

    def patch_deployment_sku(self, account: str, name: str, sku: Sku) -> None:
        self.writes.append(f"patch {name}")
        acct = self._acct(account)
        patched = [
            d.model_copy(update={"sku_name": sku.name, "capacity": sku.capacity})
            if d.name == name
            else d
            for d in acct.deployments
        ]
        self._set(account, deployments=tuple(patched))

    def delete_deployment(self, account: str, name: str) -> None:
        self.writes.append(f"delete {name}")
        kept = tuple(d for d in self._acct(account).deployments if d.name != name)
        self._set(account, deployments=kept)

    def delete_file(self, account: str, file_id: str) -> None:
        self.writes.append(f"delete {file_id}")
        kept = tuple(f for f in self._acct(account).files if f.id != file_id)
        self._set(account, files=kept)

    def download_file(self, account: str, file_id: str) -> bytes:
        return b""

    def complete(self, account: str, deployment: str, messages: list[dict[str, str]]) -> str:
        return f"fake answer from {deployment}: {messages[-1]['content']}"
