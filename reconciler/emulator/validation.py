"""JSONL validation of uploaded files, the way Azure's file processing reports it.

Files for `fine-tune` must be JSON Lines of chat (`messages`), DPO (`input` + `preferred_output` +
`non_preferred_output`) or prompt/completion examples, one format per file, at least 10 of them.
The first problem found becomes the file's `status_details`.

Data markers (documented in the package docstring): a training file containing
`FTOPS_EMULATOR_UNSAFE_DATA` fails the job at the data safety evaluation; one containing
`FTOPS_EMULATOR_UNSAFE_MODEL` fails it at the model safety evaluation after training.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from reconciler.emulator.catalog import MIN_TRAINING_EXAMPLES

UNSAFE_DATA_MARKER = "FTOPS_EMULATOR_UNSAFE_DATA"
UNSAFE_MODEL_MARKER = "FTOPS_EMULATOR_UNSAFE_MODEL"
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass
class FileSummary:
    format: str = "unknown"
    examples: int = 0
    tokens: int = 0  # a rough count: 4 characters per token, as Azure's docs estimate
    unsafe_data: bool = False
    unsafe_model: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class InvalidLine(Exception):
    pass


def validate_file(purpose: str, content: bytes) -> tuple[str | None, FileSummary]:
    """(problem or None, summary). Only fine-tune files are checked line by line."""
    summary = FileSummary(
        unsafe_data=UNSAFE_DATA_MARKER.encode() in content,
        unsafe_model=UNSAFE_MODEL_MARKER.encode() in content,
    )
    if purpose != "fine-tune":
        return None, summary
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return "The file is not valid UTF-8 text.", summary
    problem = _validate_lines(text, summary)
    if problem is None and summary.examples < MIN_TRAINING_EXAMPLES:
        problem = (
            f"The file has {summary.examples} examples; "
            f"at least {MIN_TRAINING_EXAMPLES} are required for fine-tuning."
        )
    return problem, summary


def _validate_lines(text: str, summary: FileSummary) -> str | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            line_format = _example_format(record)
        except (ValueError, InvalidLine) as exc:
            return f"Invalid example on line {number}: {_reason(exc)}"
        if summary.format == "unknown":
            summary.format = line_format
        elif line_format != summary.format:
            return (
                f"Invalid example on line {number}: the file mixes '{summary.format}' and "
                f"'{line_format}' examples."
            )
        summary.examples += 1
        summary.tokens += max(1, len(line) // 4)
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, InvalidLine):
        return str(exc)
    return f"the line is not valid JSON ({exc})."


def _example_format(record: Any) -> str:
    if not isinstance(record, dict):
        raise InvalidLine("each line must be a JSON object.")
    if "messages" in record:
        _check_messages(record["messages"], "messages")
        return "chat"
    if "preferred_output" in record or "non_preferred_output" in record:
        _check_dpo(record)
        return "dpo"
    if "prompt" in record and "completion" in record:
        return "completion"
    raise InvalidLine(
        "missing 'messages' (chat), 'preferred_output' (DPO) or 'prompt'/'completion'."
    )


def _check_messages(messages: Any, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidLine(f"'{where}' must be a non-empty list.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidLine(f"{where}[{index}] has a missing or unknown 'role'.")
        if "content" not in message and "tool_calls" not in message:
            raise InvalidLine(f"{where}[{index}] has no 'content'.")
    if where == "messages" and not any(m.get("role") == "assistant" for m in messages):
        raise InvalidLine("the example has no assistant message to train on.")


def _check_dpo(record: dict[str, Any]) -> None:
    source = record.get("input")
    if not isinstance(source, dict):
        raise InvalidLine("DPO examples need an 'input' object with 'messages'.")
    _check_messages(source.get("messages"), "input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        _check_messages(record.get(key), key)
