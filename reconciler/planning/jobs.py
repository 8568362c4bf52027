"""Fine-tune jobs: found by their key (in their metadata, else their suffix); train, wait, pause
or resume as the spec says, or report a failure.

A retrain's reason names what changed against the inputs Azure recorded on the previous job of
the same fine-tune (its base model, files, method, hyperparameters and seed).
"""

from __future__ import annotations

from reconciler.desired import DesiredFineTune
from reconciler.errors import error
from reconciler.live import AccountLive, LiveJob
from reconciler.planning.retrain import retrain_reason
from reconciler.planning.state import Planning
from reconciler.plans import (
    Change,
    FieldDiff,
    Keep,
    PauseJob,
    Reason,
    ResumeJob,
    TrainJob,
    Wait,
    Why,
)


def plan_fine_tune_jobs(p: Planning) -> None:
    for ft in p.desired.fine_tunes:  # upstream before downstream
        job = p.account(ft.account).job_for(ft.key, ft.suffix)
        if job:
            p.jobs[ft.name] = job
        p.models[ft.name] = job.fine_tuned_model if job and job.status == "succeeded" else None
        p.add(_job_change(p, ft, job))


def _job_change(p: Planning, ft: DesiredFineTune, job: LiveJob | None) -> Change:
    if job is None or (job.is_terminal and job.status != "succeeded" and p.options.retry_failed):
        return _train(p, ft, job)
    if job.is_paused:
        return _paused(ft, job)
    if ft.paused and job.status == "running":
        detail = f"pause job {job.id} (Azure keeps its checkpoints)"
        return PauseJob(address=ft.address, reason=_paused_reason(True, detail), job_id=job.id)
    if job.status == "succeeded":
        return Keep(
            address=ft.address,
            reason=Reason(why=Why.UP_TO_DATE),
            live_id=job.id,
            model=job.fine_tuned_model,
        )
    if not job.is_terminal:
        return Wait(
            address=ft.address,
            reason=Reason(why=Why.IN_PROGRESS, detail=f"training: job {job.id} is {job.status}"),
            progress=_job_progress(job),
            live_id=job.id,
            step=job.step,
            total=job.total_steps,
        )
    p.diagnostics.append(
        error(
            "FINETUNE_FAILED",
            f"fine-tune {ft.name!r}: job {job.id} {job.status}: {job.error or 'no error given'}",
            ft.location,
            "fix the data or hyperparameters (a new key trains anew), or run apply with "
            "--retry-failed to train the same inputs again",
        )
    )
    detail = f"job {job.id} {job.status}"
    return Keep(address=ft.address, reason=Reason(why=Why.FAILED, detail=detail), live_id=job.id)


def _paused(ft: DesiredFineTune, job: LiveJob) -> Change:
    """A paused job is resumed only when the spec says `paused: false`: resuming bills again."""
    who = "a person" if job.paused_by == "person" else "Azure"
    said = f": {job.pause_reason}" if job.pause_reason else ""
    if ft.paused is False:
        detail = f"resume job {job.id} (paused by {who}{said})"
        return ResumeJob(address=ft.address, reason=_paused_reason(False, detail), job_id=job.id)
    if ft.paused:
        detail = f"job {job.id} is paused, as the spec says"
        return Keep(address=ft.address, reason=Reason(why=Why.UP_TO_DATE, detail=detail))
    detail = f"job {job.id} paused by {who}{said}. Choices: {_paused_choices(ft, job)}"
    return Keep(address=ft.address, reason=Reason(why=Why.PAUSED, detail=detail), live_id=job.id)


def _paused_reason(paused: bool, detail: str) -> Reason:
    diff = FieldDiff(path="paused", before=not paused, after=paused)
    return Reason(why=Why.SPEC_CHANGED, detail=detail, fields=(diff,))


def _paused_choices(ft: DesiredFineTune, job: LiveJob) -> str:
    """What a person can do about a job paused by Azure: resume it, or deploy a checkpoint."""
    choices = ["set `paused: false` to resume it (training, and billing, go on)"]
    if job.checkpoints:
        epoch = len(job.checkpoints)
        choices.append(
            f"deploy its latest checkpoint: `model: {{fineTune: {ft.name}, "
            f"checkpoint: {{epoch: {epoch}}}}}`"
        )
    return "; or ".join(choices)


def _job_progress(job: LiveJob) -> str:
    parts = [job.status]
    if job.step is not None:
        parts.append(f"step {job.step}" + (f"/{job.total_steps}" if job.total_steps else ""))
    if job.train_loss is not None:
        parts.append(f"loss {job.train_loss:.4f}")
    if job.trained_tokens:
        parts.append(f"{job.trained_tokens} tokens")
    return ", ".join(parts)


def _train(p: Planning, ft: DesiredFineTune, failed: LiveJob | None) -> TrainJob:
    acct = p.account(ft.account)
    depends = [p.desired.file(ft.account, d).address for d in _datasets(ft)]
    if ft.upstream:
        depends.append(p.desired.fine_tune(ft.upstream).address)
    return TrainJob(
        address=ft.address,
        reason=_reason(p, ft, failed),
        depends_on=tuple(depends),
        fine_tune=ft.name,
        suffix=ft.suffix,
        base_model=ft.base_model or p.models.get(ft.upstream or ""),
        upstream=ft.upstream,
        training_file=ft.training_file,
        validation_file=ft.validation_file,
        file_ids=_processed_file_ids(acct, ft),
        method=ft.method,
        seed=ft.seed,
        training_type=ft.training_type,
        key=ft.key,
        project=p.desired.project,
    )


def _datasets(ft: DesiredFineTune) -> list[str]:
    return [d for d in (ft.training_dataset, ft.validation_dataset) if d]


def _processed_file_ids(acct: AccountLive, ft: DesiredFineTune) -> dict[str, str]:
    """Ids of the job's files that are ready now; the rest are still to upload or process."""
    ids = {}
    for name in filter(None, (ft.training_file, ft.validation_file)):
        found = acct.file_named(name)
        if found is not None and found.status == "processed":
            ids[name] = found.id
    return ids


def _reason(p: Planning, ft: DesiredFineTune, failed: LiveJob | None) -> Reason:
    if failed:
        return Reason(why=Why.RETRY, detail=f"job {failed.id} {failed.status} (--retry-failed)")
    previous = _previous_job(p.account(ft.account), ft)
    if previous is not None:
        return retrain_reason(p, ft, previous)
    if ft.upstream and p.models.get(ft.upstream) is None:
        return Reason(why=Why.NEW, detail=f"upstream fine-tune {ft.upstream} will be trained first")
    return Reason(why=Why.NEW)


def _previous_job(acct: AccountLive, ft: DesiredFineTune) -> LiveJob | None:
    """The newest job of this fine-tune with other inputs: succeeded ones first."""
    older = [j for j in acct.jobs if j.label == ft.label and j.suffix != ft.suffix]
    return max(older, key=lambda j: (j.status == "succeeded", j.created_at or 0), default=None)
