"""Where a run's results come from: an Azure job's result file (through the provider), or a local
run's directory. Both give `results.csv` text and the facts for the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import localruns
from reconciler.desired import DesiredFineTune, DesiredLocalRun
from reconciler.errors import FtopsError
from reconciler.reporting.summary import RunFacts


def azure_run(
    provider: Any, ft: DesiredFineTune, *, serverless: bool = False
) -> tuple[str, RunFacts]:
    """`serverless`: the fine-tune trains in a hub project, whose jobs give no results file."""
    acct = provider.read_account(ft.account, checkpoints_for=frozenset(), metrics_for=frozenset())
    job = acct.job_for(ft.key, ft.suffix)
    if job is None:
        raise FtopsError(
            f"fine-tune {ft.name!r} has no job for the current specs in account {ft.account!r}",
            code="REPORT_NOT_TRAINED",
            hint="run 'ftops apply' first; 'ftops status --all' lists earlier jobs",
        )
    if not job.result_files and serverless:
        raise FtopsError(
            f"job {job.id} {job.status} without a results file ftops can read",
            code="REPORT_NO_RESULTS",
            hint="serverless jobs of hub projects (workspace:) keep their metrics in Azure ML "
            "(the job's Metrics tab in the studio); ftops reports Azure OpenAI jobs and runs",
        )
    if not job.result_files:
        raise FtopsError(
            f"job {job.id} is {job.status}: it has no results file yet",
            code="REPORT_NO_RESULTS",
            hint="wait for the job to end ('ftops status --watch'), then report again",
        )
    text = provider.download_file(ft.account, job.result_files[0]).decode("utf-8")
    if job.status == "succeeded":
        job = provider.job_with_checkpoints(ft.account, job)
    epochs = job.hyperparameters.get("epochs")
    facts = RunFacts(
        name=ft.name,
        where=f"job {job.id} in account {ft.account}",
        status=job.status,
        model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        duration_s=(job.finished_at - job.created_at)
        if job.finished_at and job.created_at
        else None,
        epochs=int(epochs) if isinstance(epochs, int | float) else None,
        checkpoints=tuple(sorted((c.step_number, c.model) for c in job.checkpoints)),
    )
    return text, facts


def local_run(root: Path, run: DesiredLocalRun) -> tuple[str, RunFacts]:
    directory = localruns.run_dir(root, run.name, run.key)
    results = directory / localruns.RESULTS
    if not results.is_file():
        raise FtopsError(
            f"local run {run.name!r} has no {localruns.RESULTS} yet ({directory})",
            code="REPORT_NO_RESULTS",
            hint="run 'ftops apply --wait' first",
        )
    state = localruns.read_run_state(directory)
    metrics = state.outputs.get("metrics", {})
    epochs = run.spec.get("spec", {}).get("hyperparameters", {}).get("epochs")
    facts = RunFacts(
        name=run.name,
        where=_where(run, directory),
        status=state.phase,
        model=str(directory / localruns.ADAPTER) if state.phase == "succeeded" else None,
        trained_tokens=metrics.get("train_tokens"),
        duration_s=metrics.get("train_runtime_s"),
        epochs=int(epochs) if isinstance(epochs, int | float) and epochs >= 1 else None,
        checkpoints=tuple(
            (step, str(path)) for step, path, done in localruns.checkpoints(directory) if done
        ),
    )
    return results.read_text(encoding="utf-8"), facts


def _where(run: DesiredLocalRun, directory: Path) -> str:
    placed = run.placement
    if not placed:
        return f"local run {directory}"
    return f"run {directory}, trained on Azure ML {placed['workspace']}/{placed['cluster']}"
