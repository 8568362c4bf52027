"""PNG plots of a run, as the Azure portal shows them: training and validation on the same axes,
full-validation points (epoch ends) as markers. matplotlib, headless (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.reporting.results import Results

PANELS = {
    "loss.png": ("Loss", ("train_loss", "valid_loss", "full_valid_loss")),
    "mean_token_accuracy.png": (
        "Mean token accuracy",
        (
            "train_mean_token_accuracy",
            "validation_mean_token_accuracy",
            "full_valid_mean_token_accuracy",
        ),
    ),
}
LABELS = {
    "train": "training",
    "valid": "validation",
    "validation": "validation",
    "full": "full validation",
}


Plotted = dict[str, dict[str, tuple[list[float], list[float]]]]


def _floats(data: Any) -> list[float]:
    return [float(v) for v in data]


def draw(results: Results, title: str, out: Path) -> tuple[list[Path], Plotted]:
    """The PNGs written, and what each one's axes hold (label → x, y), read back from the
    figure: what was drawn, not what was meant to be."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written, plotted = [], {}
    for filename, (name, columns) in PANELS.items():
        drawn = [c for c in columns if results[c].values]
        if not drawn:
            continue
        figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
        for column in drawn:
            series = results[column]
            label = LABELS[column.split("_")[0]]
            if column.startswith("full"):
                axes.plot(series.steps, series.values, "o", label=label, markersize=6)
            else:
                axes.plot(series.steps, series.values, label=label, linewidth=1.5)
        axes.set(title=f"{title}: {name.lower()}", xlabel="step", ylabel=name)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = out / filename
        figure.savefig(path)
        plotted[filename] = {
            str(line.get_label()): (_floats(line.get_xdata()), _floats(line.get_ydata()))
            for line in axes.get_lines()
        }
        plt.close(figure)
        written.append(path)
    return written, plotted
