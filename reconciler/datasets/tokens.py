"""Counting an example's tokens the way the fine-tuning service bills them (research §3.3).

    chat example = 3 (reply priming)
                 + tool definitions (the cookbook's num_tokens_for_tools constants)
                 + for each message: 3 + role + content text + (name + 1)
                                     + each call's function name and arguments (as text)
    image part   = 85 at detail "low"; for an inline image at high/auto, OpenAI's tile formula
                   from its header; a remote image at high/auto counts 85 and is "uncertain"
    DPO example  = the input conversation with both outputs, counted as one chat
    legacy       = prompt + completion

`weight`, `type`, `tool_call_id` and other keys are not text the model reads, so they do not
count. Text is counted as `encode_ordinary` encodes it (encodings.get_counter): `<|endoftext|>`
in user data is plain text, never a crash (plain `encode()` raises on it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from .images import inline_image_size

LOW_DETAIL_IMAGE = 85
MEMO_BYTES = 1 << 20  # characters or bytes of remembered keys (per worker)
TILE_TOKENS = 170

CountTokens = Callable[[str], int]


class ToolConstants(NamedTuple):
    func_init: int
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12


# The cookbook gives 7 for gpt-4o (o200k) and 10 for gpt-3.5/gpt-4 (cl100k).
TOOL_CONSTANTS = {"o200k_base": ToolConstants(7), "cl100k_base": ToolConstants(10)}


class Count(NamedTuple):
    tokens: int
    before_trainable: int  # tokens before the first trainable assistant message
    uncertain: bool


class Counter:
    """Counts examples with one encoding; `examples` says how many it tokenized."""

    def __init__(self, encoding_name: str, count_tokens: CountTokens) -> None:
        self.encoding_name = encoding_name
        self.count_tokens = count_tokens
        self.tools = TOOL_CONSTANTS.get(encoding_name, ToolConstants(7))
        self.examples = 0
        # Roles, system prompts and tool definitions repeat in nearly every example of a real
        # dataset (the Zava traces carry the same 15 tools 55 times): count each once.
        self.repeated: dict[Any, int] = {}
        self.repeated_bytes = 0

    def count(self, example: dict[str, Any], fmt: str) -> Count:
        self.examples += 1
        if fmt in ("chat", "rft"):
            return self.chat(example.get("messages"), example)
        if fmt == "dpo":
            return self.dpo(example)
        return Count(
            self.text(example.get("prompt")) + self.text(example.get("completion")), 0, False
        )

    def plain(self, pairs: tuple[tuple[str, str], ...]) -> Count:
        """A chat example of (role, text) pairs only: the same formula without the lookups.

        The hot loop of token counting: roles and system prompts come from the memo, every other
        text goes straight to the encoder."""
        self.examples += 1
        total = 3
        before_trainable = -1
        repeated, count_tokens = self.repeated, self.count_tokens
        for role, text in pairs:
            if before_trainable < 0 and role == "assistant":
                before_trainable = total
            role_tokens = repeated.get(role)
            if role_tokens is None:
                role_tokens = self.remembered(role)
            if role == "system":
                total += 3 + role_tokens + self.remembered(text)
            else:
                total += 3 + role_tokens + count_tokens(text)
        return Count(total, max(before_trainable, 0), False)

    def dpo(self, example: dict[str, Any]) -> Count:
        source = example.get("input")
        source = source if isinstance(source, dict) else {}
        messages = as_list(source.get("messages"))
        outputs = as_list(example.get("preferred_output")) + as_list(
            example.get("non_preferred_output")
        )
        counted = self.chat(messages + outputs, source)
        return counted  # the first trainable turn is the preferred output

    def chat(self, messages: Any, holder: dict[str, Any]) -> Count:
        total = 3 + self.definitions(holder)
        before_trainable = -1
        uncertain = False
        for message in as_list(messages):
            if not isinstance(message, dict):
                continue
            if before_trainable < 0 and is_trainable(message):
                before_trainable = total
            tokens, unsure = self.message(message)
            total += tokens
            uncertain = uncertain or unsure
        return Count(total, max(before_trainable, 0), uncertain)

    def message(self, message: dict[str, Any]) -> tuple[int, bool]:
        role = message.get("role")
        tokens = 3 + self.remembered(role)
        content = message.get("content")
        uncertain = False
        if isinstance(content, str):
            tokens += self.remembered(content) if role == "system" else self.text(content)
        elif isinstance(content, list):
            part_tokens, uncertain = self.parts(content)
            tokens += part_tokens
        if "name" in message:
            tokens += self.text(message["name"]) + 1
        tokens += self.calls(message)
        return tokens, uncertain

    def parts(self, parts: list[Any]) -> tuple[int, bool]:
        tokens = 0
        uncertain = False
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                tokens += self.text(part.get("text"))
            elif part.get("type") == "image_url":
                image_tokens, unsure = image_cost(part.get("image_url"))
                tokens += image_tokens
                uncertain = uncertain or unsure
        return tokens, uncertain

    def calls(self, message: dict[str, Any]) -> int:
        if "tool_calls" not in message and "function_call" not in message:
            return 0
        functions = [
            c.get("function") for c in as_list(message.get("tool_calls")) if isinstance(c, dict)
        ]
        functions.append(message.get("function_call"))
        return sum(
            self.text(f.get("name")) + self.text(f.get("arguments"))
            for f in functions
            if isinstance(f, dict)
        )

    def definitions(self, holder: dict[str, Any]) -> int:
        if not holder.get("tools") and not holder.get("functions"):
            return 0
        key = orjson.dumps([holder.get("tools"), holder.get("functions")])
        if key not in self.repeated:
            self.remember(key, self.count_definitions(holder))
        return self.repeated[key]

    def count_definitions(self, holder: dict[str, Any]) -> int:
        tools = [t.get("function") for t in as_list(holder.get("tools")) if isinstance(t, dict)]
        functions = [f for f in tools + as_list(holder.get("functions")) if isinstance(f, dict)]
        if not functions:
            return 0
        return sum(self.function(f) for f in functions) + self.tools.func_end

    def function(self, function: dict[str, Any]) -> int:
        """The cookbook's num_tokens_for_tools for one function definition."""
        c = self.tools
        tokens = c.func_init + self.text(
            f"{function.get('name', '')}:{strip_dot(function.get('description'))}"
        )
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if not isinstance(properties, dict) or not properties:
            return tokens
        tokens += c.prop_init
        for key, spec in properties.items():
            spec = spec if isinstance(spec, dict) else {}
            tokens += c.prop_key
            enum = spec.get("enum")
            if isinstance(enum, list):
                tokens += c.enum_init + sum(c.enum_item + self.text(str(item)) for item in enum)
            tokens += self.text(
                f"{key}:{spec.get('type', '')}:{strip_dot(spec.get('description'))}"
            )
        return tokens

    def text(self, value: Any) -> int:
        return self.count_tokens(value) if isinstance(value, str) and value else 0

    def remembered(self, text: Any) -> int:
        if not isinstance(text, str):
            return 0
        known = self.repeated.get(text)
        if known is None:
            known = self.text(text)
            self.remember(text, known)
        return known

    def remember(self, key: str | bytes, tokens: int) -> None:
        if self.repeated_bytes + len(key) > MEMO_BYTES:
            # Bounded memory: a fresh start only costs a few recounts.
            self.repeated.clear()
            self.repeated_bytes = 0
        self.repeated[key] = tokens
        self.repeated_bytes += len(key)


def image_cost(image: Any) -> tuple[int, bool]:
    """(tokens, uncertain) for one image part."""
    if not isinstance(image, dict) or image.get("detail") == "low":
        return LOW_DETAIL_IMAGE, False
    url = image.get("url")
    size = inline_image_size(url) if isinstance(url, str) and url.startswith("data:") else None
    if size is None:
        return LOW_DETAIL_IMAGE, True
    return high_detail_tokens(*size), False


def high_detail_tokens(width: int, height: int) -> int:
    """OpenAI's gpt-4o image formula: fit in 2048², shortest side to 768, 170 per 512² tile."""
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return LOW_DETAIL_IMAGE + TILE_TOKENS * tiles


def is_trainable(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def strip_dot(text: Any) -> str:
    text = text if isinstance(text, str) else ""
    return text[:-1] if text.endswith(".") else text


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


EPOCHS_HEURISTIC_NOTE = "heuristic; Azure chooses the default number of epochs"


def default_epochs(examples: int) -> int:
    """The cookbook's default-epoch heuristic (research §2.1). Azure's own choice is
    undocumented (its cost page says 2 epochs for 500 examples, where this gives 3): show
    the figure with EPOCHS_HEURISTIC_NOTE."""
    if examples <= 0:
        return 0
    if examples * 3 < 100:
        return min(25, 100 // examples)
    if examples * 3 > 25000:
        return max(1, 25000 // examples)
    return 3
