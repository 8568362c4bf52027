"""Fine-tune jobs: found by the key in their suffix; train, wait, or report a failure."""

from __future__ import annotations

from typing import Any

from reconciler.desired import (
    DesiredFineTune,
)
from reconciler.errors import error
from reconciler.live import AccountLive, LiveJob
from reconciler.planning.state import Planning
from reconciler.plans import UNKNOWN, Action, Change, FieldChange


def plan_fine_tune_jobs(p: Planning) -> None:
    for ft in p.desired.fine_tunes:  # upstream before downstream
        job = p.account(ft.account).job_with_suffix(ft.suffix)
        if job:
            p.jobs[ft.name] = job
        if job and job.status == "succeeded":
            p.models[ft.name] = job.fine_tuned_model
            p.add(_job_change(ft, Action.NOOP, "up to date", job=job))
        elif job and not job.is_terminal:
            p.models[ft.name] = None
            p.add(
                _job_change(
                    ft,
                    Action.WAIT,
                    f"training: job {job.id} is {job.status}",
                    job=job,
                    progress=_job_progress(job),
                )
            )
        elif job and not p.options.retry_failed:
            p.models[ft.name] = None
            p.diagnostics.append(
                error(
                    "FINETUNE_FAILED",
                    f"fine-tune {ft.name!r}: job {job.id} {job.status}: "
                    f"{job.error or 'no error given'}",
                    ft.location,
                    "fix the data or hyperparameters (a new key trains anew), or run apply with "
                    "--retry-failed to train the same inputs again",
                )
            )
            p.add(_job_change(ft, Action.NOOP, f"job {job.id} {job.status}", job=job))
        else:
            p.models[ft.name] = None
            p.add(_train(p, ft, job))


def _job_change(
    ft: DesiredFineTune,
    action: Action,
    reason: str,
    *,
    job: LiveJob | None = None,
    progress: str | None = None,
) -> Change:
    payload = {"job_id": job.id, "fine_tuned_model": job.fine_tuned_model} if job else {}
    return Change(
        address=ft.address,
        kind="finetune",
        account=ft.account,
        action=action,
        reason=reason,
        payload=payload,
        progress=progress,
    )


def _job_progress(job: LiveJob) -> str:
    parts = [job.status]
    if job.step is not None:
        parts.append(f"step {job.step}")
    if job.train_loss is not None:
        parts.append(f"loss {job.train_loss:.4f}")
    if job.trained_tokens:
        parts.append(f"{job.trained_tokens} tokens")
    return ", ".join(parts)


def _train(p: Planning, ft: DesiredFineTune, failed: LiveJob | None) -> Change:
    base = ft.base_model or p.models.get(ft.upstream or "") or UNKNOWN
    depends = [f"file/{ft.account}/{d}" for d in (ft.training_dataset, ft.validation_dataset) if d]
    if ft.upstream:
        depends.append(p.desired.fine_tune(ft.upstream).address)
    fields = [
        FieldChange(path="baseModel", after=base),
        FieldChange(path="trainingFile", after=ft.training_file),
        FieldChange(path="suffix", after=ft.suffix),
    ]
    if ft.validation_file:
        fields.append(FieldChange(path="validationFile", after=ft.validation_file))
    fields.append(FieldChange(path="fineTunedModel", after=UNKNOWN))
    payload: dict[str, Any] = {
        "name": ft.name,
        "suffix": ft.suffix,
        "model": base,
        "upstream": ft.upstream,
        "training_file": ft.training_file,
        "validation_file": ft.validation_file,
        "file_ids": _processed_file_ids(p.account(ft.account), ft),
        "method": ft.method,
        "seed": ft.seed,
    }
    return Change(
        address=ft.address,
        kind="finetune",
        account=ft.account,
        action=Action.TRAIN,
        reason=_train_reason(p, ft, failed),
        fields=tuple(fields),
        depends_on=tuple(depends),
        payload=payload,
    )


def _processed_file_ids(acct: AccountLive, ft: DesiredFineTune) -> dict[str, str]:
    """Ids of the job's files that are ready now; the rest are still to upload or process."""
    ids = {}
    for name in filter(None, (ft.training_file, ft.validation_file)):
        found = acct.file_named(name)
        if found is not None and found.status == "processed":
            ids[name] = found.id
    return ids


def _train_reason(p: Planning, ft: DesiredFineTune, failed: LiveJob | None) -> str:
    if failed:
        return f"retrying: job {failed.id} {failed.status} (--retry-failed)"
    if ft.upstream and p.models.get(ft.upstream) is None:
        return f"upstream fine-tune {ft.upstream} will be trained first"
    label = ft.suffix.rsplit("-", 1)[0]
    previous = [
        j
        for j in p.account(ft.account).jobs
        if (j.suffix or "").rsplit("-", 1)[0] == label and j.suffix != ft.suffix
    ]
    if previous:
        return "spec or data changed: new job key " + ft.suffix.rsplit("-", 1)[1]
    return "new"
