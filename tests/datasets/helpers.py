"""Building small JSONL fixtures in code."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import orjson

Line = dict[str, Any] | bytes


def chat(*turns: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    """chat(("user", "hi"), ("assistant", "hello")) -> {"messages": [...]}."""
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


def clean(i: int) -> dict[str, Any]:
    return chat(
        ("system", "You are terse."), ("user", f"question {i}"), ("assistant", f"answer {i}")
    )


def encode(line: Line) -> bytes:
    return line if isinstance(line, bytes) else orjson.dumps(line)


def write_jsonl(path: Path, lines: list[Line], *, pad: int = 10, newline: bytes = b"\n") -> Path:
    """The lines, then `pad` distinct clean chat examples (so dataset-level rules stay quiet)."""
    body = [encode(line) for line in lines] + [encode(clean(i)) for i in range(pad)]
    path.write_bytes(newline.join(body) + newline)
    return path


def png(width: int = 4, height: int = 3, colour_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00" * 32
    )


def data_uri(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def image_part(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def vision(*parts: dict[str, Any], answer: Any = "a chart") -> dict[str, Any]:
    return chat(("user", [text_part("What is this?"), *parts]), ("assistant", answer))


def tool_def(name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "Get the weather.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city."},
                    "unit": {"type": "string", "enum": ["c", "f"], "description": "Unit."},
                },
            },
        },
    }


def tool_call(
    call_id: str = "call_1", name: str = "get_weather", arguments: Any = None
) -> dict[str, Any]:
    args = '{"city": "Paris"}' if arguments is None else arguments
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_example(
    calls: list[dict[str, Any]] | Any = None,
    results: list[tuple[str, str]] | None = None,
    tools: Any = None,
    final: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """user -> assistant tool_calls -> tool results -> (final assistant answer)."""
    calls = [tool_call()] if calls is None else calls
    results = [("call_1", "21 C")] if results is None else results
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": calls},
    ]
    messages += [{"role": "tool", "tool_call_id": i, "content": c} for i, c in results]
    if final:
        messages.append({"role": "assistant", "content": "It is 21 C."})
    return {"messages": messages, "tools": [tool_def()] if tools is None else tools, **extra}


def dpo(
    messages: Any = None, preferred: Any = None, non_preferred: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "input": {
            "messages": [{"role": "user", "content": "2+2?"}] if messages is None else messages
        },
        "preferred_output": [{"role": "assistant", "content": "4"}]
        if preferred is None
        else preferred,
        "non_preferred_output": (
            [{"role": "assistant", "content": "5"}] if non_preferred is None else non_preferred
        ),
        **extra,
    }


def completion(prompt: Any = "Classify: hello ->", answer: Any = " greeting") -> dict[str, Any]:
    return {"prompt": prompt, "completion": answer}
