"""The markdown summary of a run: final metrics, tokens, duration, checkpoints, the epoch with the
best validation loss, and a warning when validation loss rises while training loss falls."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.reporting.results import COLUMNS, Results, Series


@dataclass(frozen=True)
class RunFacts:
    name: str
    where: str  # "job ftjob-… in account main" or "local run directory …"
    status: str
    model: str | None = None
    trained_tokens: int | None = None
    duration_s: float | None = None
    epochs: int | None = None
    checkpoints: tuple[tuple[int, str], ...] = field(default_factory=tuple)  # (step, model)


def summary_markdown(facts: RunFacts, results: Results, plots: list[str]) -> str:
    lines = [f"# Training report: {facts.name}", "", f"{facts.where}: **{facts.status}**", ""]
    lines += _facts(facts, results)
    lines += ["", "## Final metrics", "", "| metric | value |", "|---|---|"]
    for column in COLUMNS:
        if results[column].last is not None:
            lines.append(f"| {column} | {results[column].last:.4f} |")
    best = best_epoch(results, facts.epochs)
    if best:
        lines += [
            "",
            f"Best validation loss: {best[1]:.4f} at step {best[0]}"
            + (f" (epoch {best[2]})" if best[2] else "")
            + ".",
        ]
    warning = overfitting(results)
    if warning:
        lines += ["", f"> **Warning:** {warning}"]
    if facts.checkpoints:
        lines += ["", "## Checkpoints", "", "| step | model |", "|---|---|"]
        lines += [f"| {step} | `{model}` |" for step, model in facts.checkpoints]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _facts(facts: RunFacts, results: Results) -> list[str]:
    rows = [("steps", f"{results.steps:,}")]
    if facts.epochs:
        rows.append(("epochs", str(facts.epochs)))
    if facts.trained_tokens:
        rows.append(("tokens trained", f"{facts.trained_tokens:,}"))
    if facts.duration_s is not None:
        rows.append(("duration", _duration(facts.duration_s)))
    if facts.model:
        rows.append(("model", f"`{facts.model}`"))
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def best_epoch(results: Results, epochs: int | None) -> tuple[int, float, int | None] | None:
    """(step, loss, epoch) of the lowest validation loss: full validation when there is one."""
    series = (
        results["full_valid_loss"] if results["full_valid_loss"].values else results["valid_loss"]
    )
    if not series.values:
        return None
    i = min(range(len(series.values)), key=series.values.__getitem__)
    epoch = None
    if epochs and results.steps:
        per_epoch = results.steps / epochs
        epoch = max(1, round(series.steps[i] / per_epoch))
    return series.steps[i], series.values[i], epoch


def overfitting(results: Results) -> str | None:
    """Validation loss rising over the last third while training loss keeps falling."""
    train, valid = results["train_loss"], results["valid_loss"]
    if len(valid.values) < 6 or len(train.values) < 6:
        return None
    if _trend(valid) > 0 and _trend(train) < 0:
        return (
            "validation loss rises while training loss falls over the last third of training: "
            "the model may be overfitting (fewer epochs, or more data)"
        )
    return None


def _trend(series: Series) -> float:
    tail = series.values[-max(3, len(series.values) // 3) :]
    half = len(tail) // 2
    return sum(tail[half:]) / len(tail[half:]) - sum(tail[:half]) / len(tail[:half])


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
