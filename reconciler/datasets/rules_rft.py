"""Reinforcement fine-tuning examples: a conversation that ends with the user's turn.

The model writes the answer while training and a grader scores it, so an example has no final
assistant message; its other top-level fields (`answer`, `expected`, …) are what the grader's
`{{item.x}}` templates read, and are kept, not reported as unknown.
"""

from __future__ import annotations

from typing import Any

from .facts import ExampleFacts
from .findings import Findings
from .rules_chat import check_messages, message_list
from .rules_tools import check_tool_definitions


def check_rft(example: dict[str, Any], line: int, found: Findings) -> ExampleFacts:
    facts = ExampleFacts()
    defined = check_tool_definitions(example, "$", line, found) if "tools" in example else None
    messages = message_list(example, line, found)
    if messages is None:
        return facts
    roles, _ = check_messages(messages, "$.messages", line, found, defined, facts)
    if roles[-1] != "user":
        found.report(
            "RFT_LAST_NOT_USER",
            f"the last message is {roles[-1]!r}, not the user's",
            line,
            f"$.messages[{len(roles) - 1}]",
        )
    if len(example) == 1:
        found.report("RFT_NO_REFERENCE", "no field besides messages for a grader to read", line)
    facts.pairs = None  # the plain-chat identity is for chat examples only
    facts.last_assistant = -1
    return facts
