"""Training against validation (overlap, formats) and the diff between two versions."""

from __future__ import annotations

from pathlib import Path

from reconciler.datasets import compare_datasets, data_diff, file_digest, inspect_dataset

from .helpers import chat, completion, write_jsonl


def test_overlap_of_examples_and_prompts(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "t.jsonl", [chat(("user", "q"), ("assistant", "a"))], pad=10)
    valid = write_jsonl(
        tmp_path / "v.jsonl",
        [
            chat(("user", "fresh"), ("assistant", "b")),
            chat(("user", "q"), ("assistant", "a")),  # the same example
            chat(("user", "q"), ("assistant", "other")),  # the same prompt
        ],
        pad=0,
    )
    found = compare_datasets(inspect_dataset(train), inspect_dataset(valid, role="validation"))
    overlaps = [d for d in found if d.code == "SET_TRAIN_VALID_OVERLAP"]
    assert [d.location.line for d in overlaps if d.location] == [2, 3]
    assert "training line 1" in overlaps[0].message
    assert compare_datasets(train, write_jsonl(tmp_path / "c.jsonl", [], pad=0)) == []


def test_format_differs(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "t.jsonl", [], pad=10)
    valid = write_jsonl(tmp_path / "v.jsonl", [completion()], pad=0)
    codes = {d.code for d in compare_datasets(train, valid)}
    assert codes == {"SET_FORMAT_DIFFERS"}
    assert "SET_FORMAT_DIFFERS" not in {d.code for d in compare_datasets(train, train)}


def test_data_diff_counts_examples_tokens_and_new_problems(tmp_path: Path) -> None:
    old = write_jsonl(tmp_path / "old.jsonl", [chat(("user", "gone"), ("assistant", "x"))])
    new = write_jsonl(
        tmp_path / "new.jsonl",
        # (no system message: EX_MISSING_SYSTEM is information, not a new problem)
        [chat(("user", "added"), ("assistant", "y")), chat(("user", "also"), ("assistant", " "))],
    )
    diff = data_diff(old.read_bytes().splitlines(keepends=True), new)
    assert (diff.added_examples, diff.removed_examples) == (2, 1)
    assert diff.new_problem_codes == ["MSG_EMPTY_CONTENT"]
    old_report, new_report = inspect_dataset(old), inspect_dataset(new)
    assert old_report.tokens and new_report.tokens
    assert diff.token_delta == new_report.tokens.total - old_report.tokens.total
    assert diff.old_digest == file_digest(old) and diff.new_digest == file_digest(new)
    assert diff.summary().startswith("+2 / -1 examples")


def test_data_diff_of_identical_files(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [])
    diff = data_diff(path, path)
    assert (diff.added_examples, diff.removed_examples, diff.token_delta) == (0, 0, 0)
    assert not diff.changed
