"""Legacy prompt/completion examples for babbage-002 and davinci-002 (research §5.7)."""

from __future__ import annotations

from typing import Any

from .facts import ExampleFacts
from .findings import Findings
from .rules_chat import check_top_keys

TOP_KEYS = frozenset({"prompt", "completion"})


def check_completion(example: dict[str, Any], line: int, found: Findings) -> ExampleFacts:
    check_top_keys(example, TOP_KEYS, line, found)
    for key in ("prompt", "completion"):
        if not isinstance(example.get(key), str):
            found.report("LEGACY_FIELD_TYPE", f"{key} is missing or not a string", line, f"$.{key}")
    completion = example.get("completion")
    if isinstance(completion, str):
        if not completion.strip():
            found.report("LEGACY_EMPTY_COMPLETION", "completion is empty", line, "$.completion")
        elif not completion[0].isspace():
            found.tally("LEGACY_HINTS", line)
    return ExampleFacts()
