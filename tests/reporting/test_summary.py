"""The summary's judgements: the best validation epoch, and the overfitting warning."""

from __future__ import annotations

from reconciler.reporting import RunFacts, read_results, summary_markdown
from reconciler.reporting.summary import best_epoch, overfitting

HEADER = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,validation_mean_token_accuracy,"
    "full_valid_loss,full_valid_mean_token_accuracy\n"
)


def csv(train: list[float], valid: list[float], full: dict[int, float]) -> str:
    rows = [
        f"{i},{t},0.5,{v},0.5,{full.get(i, '')},{'0.5' if i in full else ''}"
        for i, (t, v) in enumerate(zip(train, valid, strict=True), 1)
    ]
    return HEADER + "\n".join(rows) + "\n"


def test_overfitting_is_called_out_and_the_best_epoch_found() -> None:
    train = [2.0 - 0.15 * i for i in range(12)]
    valid = [2.0 - 0.2 * i for i in range(6)] + [1.0 + 0.1 * i for i in range(6)]
    results = read_results(csv(train, valid, {4: 1.3, 8: 1.1, 12: 1.5}))
    assert best_epoch(results, epochs=3) == (8, 1.1, 2)
    assert overfitting(results) is not None
    facts = RunFacts(name="x", where="job j", status="succeeded", epochs=3)
    text = summary_markdown(facts, results, [])
    assert "Best validation loss: 1.1000 at step 8 (epoch 2)." in text
    assert "> **Warning:** validation loss rises while training loss falls" in text


def test_no_warning_while_both_fall() -> None:
    falling = [2.0 - 0.1 * i for i in range(12)]
    results = read_results(csv(falling, [x + 0.1 for x in falling], {}))
    assert overfitting(results) is None
    assert best_epoch(results, epochs=None) == (12, results["valid_loss"].values[-1], None)
