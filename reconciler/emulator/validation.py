"""JSONL validation of uploaded files, the way Azure's file processing reports it.

Files for `fine-tune` must be JSON Lines of chat (`messages`), DPO (`input` + `preferred_output` +
`non_preferred_output`) or prompt/completion examples, one format per file, at least 10 of them.
A chat example whose last message is the user's is a reinforcement (RFT) prompt: the model's
answer is scored by a grader, so there is no assistant message; other top-level fields are kept
for the grader's `{{item.<field>}}` references. The first problem found becomes the file's
`status_details`.

Files are read as a stream of chunks (a completed upload is its parts, read from the store), one
line at a time, so a big file is never held in memory whole.

Data markers (documented in the package docstring): a training file containing
`FTOPS_EMULATOR_UNSAFE_DATA` fails the job at the data safety evaluation; one containing
`FTOPS_EMULATOR_UNSAFE_MODEL` fails it at the model safety evaluation after training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from reconciler.emulator.catalog import MIN_TRAINING_EXAMPLES

UNSAFE_DATA_MARKER = "FTOPS_EMULATOR_UNSAFE_DATA"
UNSAFE_MODEL_MARKER = "FTOPS_EMULATOR_UNSAFE_MODEL"
_UNSAFE_DATA = UNSAFE_DATA_MARKER.encode()
_UNSAFE_MODEL = UNSAFE_MODEL_MARKER.encode()
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
    return validate_stream(purpose, [content])


def validate_stream(purpose: str, chunks: Iterable[bytes]) -> tuple[str | None, FileSummary]:
    """(problem or None, summary). Only fine-tune files are checked line by line; every line is
    read even after a problem, for the data markers."""
    summary = FileSummary()
    problem = None
    for number, raw in enumerate(_lines(chunks), start=1):
        summary.unsafe_data = summary.unsafe_data or _UNSAFE_DATA in raw
        summary.unsafe_model = summary.unsafe_model or _UNSAFE_MODEL in raw
        if purpose == "fine-tune" and problem is None:
            problem = _check_line(number, raw, summary)
    if purpose != "fine-tune":
        return None, summary
    if problem is None and summary.examples < MIN_TRAINING_EXAMPLES:
        problem = (
            f"The file has {summary.examples} examples; "
            f"at least {MIN_TRAINING_EXAMPLES} are required for fine-tuning."
        )
    return problem, summary


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a chunked byte stream, without their line ends. A line's start is kept in
    pieces until its end arrives (no copying of a long line per chunk)."""
    started: list[bytes] = []
    for chunk in chunks:
        *ended, rest = chunk.split(b"\n")
        for piece in ended:
            yield b"".join([*started, piece])
            started = []
        started.append(rest)
    if any(started):
        yield b"".join(started)


def _check_line(number: int, raw: bytes, summary: FileSummary) -> str | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "The file is not valid UTF-8 text."
    if not line.strip():
        return None
    try:
        line_format = _example_format(json.loads(line))
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
    summary.tokens += max(1, len(line.rstrip("\r")) // 4)
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, InvalidLine):
        return str(exc)
    return f"the line is not valid JSON ({exc})."


def _example_format(record: Any) -> str:
    if not isinstance(record, dict):
        raise InvalidLine("each line must be a JSON object.")
    if "messages" in record:
        return _chat_format(record["messages"])
    if "preferred_output" in record or "non_preferred_output" in record:
        _check_dpo(record)
        return "dpo"
    if "prompt" in record and "completion" in record:
        return "completion"
    raise InvalidLine(
        "missing 'messages' (chat), 'preferred_output' (DPO) or 'prompt'/'completion'."
    )


def _chat_format(messages: Any) -> str:
    _check_messages(messages, "messages")
    if messages[-1].get("role") == "user":
        return "reinforcement"  # a prompt: the model answers, a grader scores the answer
    if not any(m.get("role") == "assistant" for m in messages):
        raise InvalidLine("the example has no assistant message to train on.")
    return "chat"


def _check_messages(messages: Any, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidLine(f"'{where}' must be a non-empty list.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidLine(f"{where}[{index}] has a missing or unknown 'role'.")
        if "content" not in message and "tool_calls" not in message:
            raise InvalidLine(f"{where}[{index}] has no 'content'.")


def _check_dpo(record: dict[str, Any]) -> None:
    source = record.get("input")
    if not isinstance(source, dict):
        raise InvalidLine("DPO examples need an 'input' object with 'messages'.")
    _check_messages(source.get("messages"), "input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        _check_messages(record.get(key), key)
