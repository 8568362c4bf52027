"""Chat (SFT) examples (research §5.3): messages, roles, content, weights, turn structure.

`check_messages` is shared with DPO, whose input and outputs are message lists too.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import Severity

from .facts import ExampleFacts
from .findings import Findings
from .rules_tools import check_function_call, check_tool_calls, check_tool_definitions
from .rules_vision import check_image_count, check_parts

TOP_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
ROLES = frozenset({"system", "user", "assistant", "tool", "function"})


def check_chat(example: dict[str, Any], line: int, found: Findings) -> ExampleFacts:
    messages = example.get("messages")
    if len(example) == 1 and type(messages) is list:
        facts = plain_chat(messages, line, found)
        if facts is not None:
            return facts
    facts = ExampleFacts()
    defined = None
    if len(example) > 1:  # more than `messages`: tools, functions, unknown keys
        check_top_keys(example, TOP_KEYS, line, found)
        defined = check_tool_definitions(example, "$", line, found)
    messages = message_list(example, line, found)
    if messages is None:
        return facts
    roles, trained = check_messages(messages, "$.messages", line, found, defined, facts)
    facts.last_assistant = last_index(roles, "assistant")
    check_turns(roles, trained, facts.last_assistant, line, found)
    if facts.images:
        check_image_count(facts, line, found)
    return facts


def plain_chat(messages: list[Any], line: int, found: Findings) -> ExampleFacts | None:
    """The common example checked in one loop: nothing but messages, each one a role (system,
    user or assistant) and a text that is not blank; the system message first or none; users
    and assistants taking turns, the assistant last. None for anything else: the general rules
    below check that, and report what they find.

    Most of a file pass is spent here, so this loop makes no calls it can avoid."""
    pairs = []
    previous = None
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        role = message.get("role")
        content = message.get("content")
        if role not in PLAIN_ROLES or type(content) is not str or not content:
            return None
        if role == previous or (role == "system" and previous is not None) or content.isspace():
            return None
        pairs.append((role, content))
        previous = role
    if previous != "assistant" or len(pairs) < 2 + (pairs[0][0] == "system"):
        return None  # no assistant, nothing after the system message, or no user
    if pairs[0][0] != "system":
        found.tally("EX_MISSING_SYSTEM", line)
    return ExampleFacts(pairs=tuple(pairs), last_assistant=len(pairs) - 1)


def message_list(example: dict[str, Any], line: int, found: Findings) -> list[Any] | None:
    """The example's `messages`, when it is a non-empty list; reported otherwise."""
    messages = example.get("messages")
    if not isinstance(messages, list):
        found.report(
            "EX_MESSAGES_NOT_LIST", "messages is missing or not a list", line, "$.messages"
        )
        return None
    if not messages:
        found.report("EX_MESSAGES_EMPTY", "messages is empty", line, "$.messages")
        return None
    return messages


def check_top_keys(
    example: dict[str, Any], allowed: frozenset[str], line: int, found: Findings
) -> None:
    if example.keys() <= allowed:
        return
    for key in example.keys() - allowed:
        found.report("EX_UNKNOWN_TOP_KEY", f"unknown top-level key {key!r}", line, f"$.{key}")


def check_messages(
    messages: list[Any],
    path: str,
    line: int,
    found: Findings,
    defined: set[str] | None,
    facts: ExampleFacts,
) -> tuple[list[Any], bool]:
    """Check each message; the roles in order (None where unusable), and whether any
    message is trained on."""
    roles: list[Any] = []
    pairs: list[tuple[str, str]] | None = []
    trained = False
    calls: CallLedger | None = None
    for i, message in enumerate(messages):
        # The common case, {"role": system|user|assistant, "content": "text"}, is checked
        # inline: no JSON path built, no calls (this loop is most of a file pass's time).
        if type(message) is dict and len(message) == 2:
            role = message.get("role")
            content = message.get("content")
            if role in PLAIN_ROLES and type(content) is str and content and not content.isspace():
                roles.append(role)
                trained = trained or role == "assistant"
                if pairs is not None:
                    pairs.append((role, content))
                continue
        pairs = None
        message_path = f"{path}[{i}]"
        if not isinstance(message, dict):
            found.report("MSG_NOT_OBJECT", "message is not an object", line, message_path)
            roles.append(None)
            continue
        role = check_role(message, message_path, line, found)
        check_content(message, role, message_path, line, found, facts)
        trained = check_weight(message, role, message_path, line, found) or trained
        if calls is None and needs_ledger(message, role):
            calls = CallLedger()
        if calls is not None:
            calls.check(message, role, i, message_path, line, found, defined)
        roles.append(role)
    if calls is not None:
        calls.check_unanswered(len(messages), line, found, path)
    if pairs is not None:
        facts.pairs = tuple(pairs)
    return roles, trained


PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def needs_ledger(message: dict[str, Any], role: Any) -> bool:
    return (
        role in ("tool", "function")
        or message.get("tool_calls") is not None
        or message.get("function_call") is not None
    )


def check_role(message: dict[str, Any], path: str, line: int, found: Findings) -> Any:
    if not message.keys() <= MESSAGE_KEYS:
        for key in message.keys() - MESSAGE_KEYS:
            found.report("MSG_UNKNOWN_KEY", f"unknown message key {key!r}", line, f"{path}.{key}")
    role = message.get("role")
    if role is None:
        found.report("MSG_MISSING_ROLE", "message has no role", line, path)
    elif role not in ROLES:
        severity = Severity.WARNING if role == "developer" else None
        found.report(
            "MSG_UNKNOWN_ROLE", f"unknown role {role!r}", line, f"{path}.role", severity=severity
        )
    return role


def check_content(
    message: dict[str, Any],
    role: Any,
    path: str,
    line: int,
    found: Findings,
    facts: ExampleFacts,
) -> None:
    has_call = message.get("tool_calls") is not None or message.get("function_call") is not None
    may_omit = role == "assistant" and has_call
    if "content" not in message:
        if not may_omit:
            found.report("MSG_MISSING_CONTENT", f"{role} message has no content", line, path)
        return
    content = message["content"]
    content_path = f"{path}.content"
    if isinstance(content, str):
        if not content.strip():
            severity = Severity.ERROR if role == "assistant" and not has_call else Severity.WARNING
            found.report(
                "MSG_EMPTY_CONTENT",
                f"{role} content is empty",
                line,
                content_path,
                severity=severity,
            )
    elif isinstance(content, list):
        if not content and not may_omit:
            found.report("MSG_EMPTY_CONTENT", f"{role} content has no parts", line, content_path)
        check_parts(content, role, content_path, line, found, facts)
    elif content is not None or not may_omit:
        found.report(
            "MSG_CONTENT_TYPE",
            f"content is {type_name(content)}, not a string or a list of parts",
            line,
            content_path,
        )


def check_weight(message: dict[str, Any], role: Any, path: str, line: int, found: Findings) -> bool:
    """Whether the message is trained on (an assistant message without weight 0)."""
    if "weight" not in message:
        return role == "assistant"
    weight = message["weight"]
    # type() rather than isinstance: true/false are ints to Python, and 1.0 == 1.
    if type(weight) is not int or weight not in (0, 1):
        found.report(
            "MSG_WEIGHT_INVALID", f"weight is {weight!r}, not 0 or 1", line, f"{path}.weight"
        )
    if role != "assistant":
        found.report(
            "MSG_WEIGHT_NOT_ASSISTANT", f"weight on a {role} message", line, f"{path}.weight"
        )
    return role == "assistant" and weight != 0


class CallLedger:
    """Tool-call ids issued by assistant messages and answered by tool messages."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}  # call id -> index of the message that issued it
        self.issued: set[str] = set()

    def check(
        self,
        message: dict[str, Any],
        role: Any,
        index: int,
        path: str,
        line: int,
        found: Findings,
        defined: set[str] | None,
    ) -> None:
        if message.get("tool_calls") is not None:
            if role != "assistant":
                found.report("TOOL_CALLS_INVALID", f"tool_calls on a {role} message", line, path)
            ids = check_tool_calls(
                message["tool_calls"], f"{path}.tool_calls", line, found, defined
            )
            self.issued.update(ids)
            self.open.update(dict.fromkeys(ids, index))
        if message.get("function_call") is not None:
            check_function_call(
                message["function_call"], f"{path}.function_call", line, found, defined
            )
        if role == "tool":
            self.answer(message, path, line, found)
        elif role == "function" and not isinstance(message.get("name"), str):
            found.report(
                "LEGACY_FUNCTIONS",
                "a function message needs a name",
                line,
                path,
                severity=Severity.ERROR,
            )

    def answer(self, message: dict[str, Any], path: str, line: int, found: Findings) -> None:
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or call_id not in self.issued:
            found.report(
                "TOOL_RESULT_ORPHAN",
                "tool message without the tool_call_id of an earlier call"
                if call_id is None
                else f"tool_call_id {call_id!r} matches no earlier tool call",
                line,
                path,
            )
            return
        self.open.pop(call_id, None)

    def check_unanswered(self, count: int, line: int, found: Findings, path: str) -> None:
        # A call in the last message is the thing being taught; only a call that the
        # conversation moves on from without its result is suspicious.
        for call_id, index in self.open.items():
            if index < count - 1:
                found.report(
                    "TOOL_CALL_UNANSWERED",
                    f"tool call {call_id!r} has no tool result",
                    line,
                    f"{path}[{index}]",
                )


def check_turns(
    names: list[Any], trained: bool, last_assistant: int, line: int, found: Findings
) -> None:
    """Example-level structure: something to learn, where the system message is, turn order."""
    if last_assistant < 0:
        found.report("EX_NO_ASSISTANT", "no assistant message", line, "$.messages")
    elif not trained:
        found.report(
            "EX_NO_TRAINABLE_ASSISTANT", "every assistant message has weight 0", line, "$.messages"
        )
    elif last_assistant != len(names) - 1:
        found.report(
            "EX_LAST_NOT_ASSISTANT",
            f"{len(names) - 1 - last_assistant} message(s) after the last assistant turn",
            line,
            f"$.messages[{last_assistant + 1}]",
        )
    check_system(names, line, found)
    if "user" not in names:
        found.tally("EX_MISSING_USER", line)
    previous = None
    for name in names:
        if name == previous and name is not None:
            found.tally("EX_ADJACENT_SAME_ROLE", line)
            break
        previous = name


def last_index(names: list[Any], wanted: str) -> int:
    for i in range(len(names) - 1, -1, -1):
        if names[i] == wanted:
            return i
    return -1


def check_system(names: list[Any], line: int, found: Findings) -> None:
    systems = names.count("system")
    if systems == 0:
        found.tally("EX_MISSING_SYSTEM", line)
        return
    if names[0] != "system":
        found.report(
            "EX_SYSTEM_NOT_FIRST",
            "the system message is not first",
            line,
            f"$.messages[{names.index('system')}]",
        )
    if systems > 1:
        found.report("EX_MULTIPLE_SYSTEM", f"{systems} system messages", line, "$.messages")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", dict: "an object"}.get(
        type(value), type(value).__name__
    )
