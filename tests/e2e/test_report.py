"""`ftops report`: an Azure job's results file, through the SDK, as PNG plots with training and
validation on the same axes and a markdown summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from reconciler.reporting import read_results
from reconciler.reporting.plots import draw

PNG = b"\x89PNG\r\n\x1a\n"


def check_report(out: Path, tmp_path: Path) -> str:
    for png in ("loss.png", "mean_token_accuracy.png"):
        assert (out / png).read_bytes()[:8] == PNG
    results = read_results((out / "results.csv").read_text())
    _, plotted = draw(results, "again", tmp_path)
    loss = plotted["loss.png"]
    assert set(loss) == {"training", "validation", "full validation"}  # two curves and points
    for label, column in (("training", "train_loss"), ("validation", "valid_loss")):
        steps, values = loss[label]
        assert steps == [float(s) for s in results[column].steps]
        assert values == list(results[column].values)
    return (out / "report.md").read_text()


def test_report_of_an_azure_fine_tune(
    use_emulator: RunningEmulator, example, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    specs = str(example("tool-calling"))
    out = tmp_path / "report"
    assert main(["report", "stock-tools", specs, "--emulator"]) == 1  # not trained yet
    assert "REPORT_NOT_TRAINED" in capsys.readouterr().err
    assert main(["apply", specs, "--emulator", "--yes", "--wait"]) == 0
    assert main(["report", "stock-tools", specs, "--emulator", "--out", str(out)]) == 0
    summary = check_report(out, tmp_path)
    assert "**succeeded**" in summary and "tokens trained" in summary
    assert "| valid_loss |" in summary and "Best validation loss" in summary
    assert "## Checkpoints" in summary and "![loss.png](loss.png)" in summary
    assert main(["report", "nope", specs, "--emulator"]) == 1
    assert "REPORT_UNKNOWN" in capsys.readouterr().err
