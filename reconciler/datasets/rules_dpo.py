"""DPO examples (research §5.6): an input conversation and a preferred and non-preferred answer."""

from __future__ import annotations

from typing import Any

from .facts import ExampleFacts
from .findings import Findings
from .rules_chat import check_messages, check_top_keys
from .rules_tools import check_tool_definitions

TOP_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
OUTPUTS = ("preferred_output", "non_preferred_output")
OUTPUT_ROLES = frozenset({"assistant", "tool"})


def check_dpo(example: dict[str, Any], line: int, found: Findings) -> ExampleFacts:
    facts = ExampleFacts()
    check_top_keys(example, TOP_KEYS, line, found)
    defined = check_input(example.get("input"), line, found, facts)
    for key in OUTPUTS:
        check_output(example.get(key), f"$.{key}", line, found, defined, facts)
    facts.pairs = None  # the plain-chat identity is for chat examples only
    if example.get(OUTPUTS[0]) == example.get(OUTPUTS[1]) and OUTPUTS[0] in example:
        found.report("DPO_IDENTICAL_OUTPUTS", "the two outputs are identical", line, "$")
    if facts.images:
        found.report("DPO_HAS_IMAGES", f"{facts.images} image(s) in a DPO example", line)
    return facts


def check_input(value: Any, line: int, found: Findings, facts: ExampleFacts) -> set[str] | None:
    if not isinstance(value, dict):
        found.report("DPO_INPUT_INVALID", "input is missing or not an object", line, "$.input")
        return None
    defined = check_tool_definitions(value, "$.input", line, found)
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        found.report(
            "DPO_INPUT_INVALID", "input.messages is not a non-empty list", line, "$.input.messages"
        )
        return defined
    roles, _ = check_messages(messages, "$.input.messages", line, found, defined, facts)
    if roles[-1] == "assistant":
        found.report(
            "DPO_INPUT_ENDS_WITH_ASSISTANT",
            "the input ends with an assistant message",
            line,
            f"$.input.messages[{len(roles) - 1}]",
        )
    return defined


def check_output(
    value: Any,
    path: str,
    line: int,
    found: Findings,
    defined: set[str] | None,
    facts: ExampleFacts,
) -> None:
    if not isinstance(value, list):
        found.report("DPO_OUTPUT_INVALID", f"{path[2:]} is missing or not a list", line, path)
        return
    roles, _ = check_messages(value, path, line, found, defined, facts)
    if "assistant" not in roles:
        found.report("DPO_OUTPUT_INVALID", f"{path[2:]} has no assistant message", line, path)
    elif not set(roles) <= OUTPUT_ROLES:
        found.report(
            "DPO_OUTPUT_INVALID", f"{path[2:]} has roles other than assistant/tool", line, path
        )
    if len(value) > 1:
        found.report(
            "DPO_OUTPUT_MULTI",
            f"{path[2:]} has {len(value)} messages (single-turn only)",
            line,
            path,
        )
