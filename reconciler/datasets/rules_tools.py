"""Tools and legacy functions (research §5.4): definitions, calls, arguments, results."""

from __future__ import annotations

from typing import Any

import orjson

from .findings import Findings


def check_tool_definitions(
    holder: dict[str, Any], path: str, line: int, found: Findings
) -> set[str] | None:
    """The names of the defined tools/functions, or None when the example defines none."""
    names: list[str] = []
    if "tools" in holder:
        names += tool_names(holder["tools"], f"{path}.tools", line, found)
    if "functions" in holder:
        found.tally("LEGACY_FUNCTIONS", line)
        names += function_names(holder["functions"], f"{path}.functions", line, found)
    if "parallel_tool_calls" in holder and not isinstance(holder["parallel_tool_calls"], bool):
        found.report(
            "TOOL_PARALLEL_FLAG_TYPE",
            "parallel_tool_calls is not a boolean",
            line,
            f"{path}.parallel_tool_calls",
        )
    for name in {n for n in names if names.count(n) > 1}:
        found.report("TOOL_DUPLICATE_NAME", f"tool {name!r} is defined twice", line, path)
    return set(names) if names else None


def tool_names(tools: Any, path: str, line: int, found: Findings) -> list[str]:
    if not isinstance(tools, list):
        found.report("TOOL_DEFS_INVALID", "tools is not a list", line, path)
        return []
    names = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            found.report(
                "TOOL_DEFS_INVALID", 'tool is not {"type": "function", ...}', line, f"{path}[{i}]"
            )
            continue
        name = function_name(tool.get("function"), f"{path}[{i}].function", line, found)
        if name is not None:
            names.append(name)
    return names


def function_names(functions: Any, path: str, line: int, found: Findings) -> list[str]:
    if not isinstance(functions, list):
        found.report("TOOL_DEFS_INVALID", "functions is not a list", line, path)
        return []
    names = (function_name(f, f"{path}[{i}]", line, found) for i, f in enumerate(functions))
    return [n for n in names if n is not None]


def function_name(function: Any, path: str, line: int, found: Findings) -> str | None:
    """Check one function definition; its name when it has a usable one."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        found.report("TOOL_DEFS_INVALID", "function definition has no string name", line, path)
        return None
    if "parameters" in function and not isinstance(function["parameters"], dict):
        found.report("TOOL_DEFS_INVALID", "parameters is not an object", line, f"{path}.parameters")
    return str(function["name"])


def check_tool_calls(
    calls: Any, path: str, line: int, found: Findings, defined: set[str] | None
) -> list[str]:
    """Check an assistant message's tool_calls; the call ids it issues."""
    if not isinstance(calls, list) or not calls:
        found.report("TOOL_CALLS_INVALID", "tool_calls is not a non-empty list", line, path)
        return []
    ids = []
    for i, call in enumerate(calls):
        call_path = f"{path}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            found.report(
                "TOOL_CALLS_INVALID",
                "tool call needs id, type 'function', function.name and string function.arguments",
                line,
                call_path,
            )
            continue
        ids.append(call["id"])
        check_called(function, f"{call_path}.function", line, found, defined)
    return ids


def check_function_call(
    call: Any, path: str, line: int, found: Findings, defined: set[str] | None
) -> None:
    found.tally("LEGACY_FUNCTIONS", line)
    if (
        not isinstance(call, dict)
        or not isinstance(call.get("name"), str)
        or not isinstance(call.get("arguments"), str)
    ):
        found.report(
            "TOOL_CALLS_INVALID", "function_call needs a name and string arguments", line, path
        )
        return
    check_called(call, path, line, found, defined)


def check_called(
    function: dict[str, Any], path: str, line: int, found: Findings, defined: set[str] | None
) -> None:
    name = function["name"]
    if defined is not None and name not in defined:
        found.report(
            "TOOL_UNKNOWN_FUNCTION",
            f"calls {name!r}, which the example does not define",
            line,
            path,
        )
    check_arguments(function["arguments"], f"{path}.arguments", line, found)


def check_arguments(arguments: str, path: str, line: int, found: Findings) -> None:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        found.report("TOOL_ARGS_NOT_JSON", "arguments is not valid JSON", line, path)
        return
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
        else:
            found.report(
                "TOOL_ARGS_DOUBLE_ENCODED", "arguments holds JSON encoded twice", line, path
            )
            return
    if not isinstance(value, dict):
        found.report("TOOL_ARGS_NOT_JSON", "arguments is not a JSON object", line, path)
