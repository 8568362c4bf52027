"""Data → tokens and labels (research/local-runs.md §2.3 method 2, §3.5).

ftops builds `input_ids` and `labels` itself and hands trl a pre-tokenised dataset, because trl's
`assistant_only_loss` trains every assistant turn, `weight: 0` ones included. A token is learned
(label = its id) iff it overlaps the span of an assistant message whose `weight` is 1 or absent.
The span of assistant message i is

    [len(render(msgs[:i], add_generation_prompt=True)), len(render(msgs[:i+1]).rstrip()))

which needs only a prefix-preserving chat template; that is asserted, row by row. This module
needs a tokenizer object but imports nothing heavy itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IGNORE = -100


class TemplateError(ValueError):
    """The chat template is not prefix-preserving, so spans cannot be computed."""


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _render(tokenizer: Any, messages: list[dict], tools: Any, *, prompt: bool = False) -> str:
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": prompt}
    if tools:
        kwargs["tools"] = tools
    return tokenizer.apply_chat_template(messages, **kwargs)


def _clean(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "weight"}


def trained_spans(
    tokenizer: Any, messages: list[dict], tools: Any = None, *, loss_on: str = "assistant"
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans to learn."""
    clean = [_clean(m) for m in messages]
    text = _render(tokenizer, clean, tools)
    if loss_on == "all":
        return text, [(0, len(text))]
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        before = _render(tokenizer, clean[:i], tools, prompt=True) if i else ""
        upto = _render(tokenizer, clean[: i + 1], tools)
        if not upto.startswith(before) or not text.startswith(upto):
            raise TemplateError(
                "the chat template is not prefix-preserving: rendering the first "
                f"{i + 1} messages is not a prefix of the whole conversation"
            )
        end = len(upto.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return text, spans


def encode_chat(
    tokenizer: Any,
    messages: list[dict],
    tools: Any = None,
    *,
    loss_on: str = "assistant",
    max_length: int | None = None,
) -> dict[str, list[int]]:
    """`{input_ids, labels}` with -100 on every token outside the trained spans."""
    text, spans = trained_spans(tokenizer, messages, tools, loss_on=loss_on)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = []
    for token, (start, end) in zip(ids, enc["offset_mapping"], strict=True):
        inside = any(start < s_end and end > s_start for s_start, s_end in spans)
        labels.append(token if inside else IGNORE)
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}


def sft_rows(
    tokenizer: Any, path: str | Path, *, loss_on: str, max_length: int
) -> tuple[list[dict[str, list[int]]], int]:
    """Encoded rows, and how many were dropped for having no trainable token left."""
    rows, dropped = [], 0
    for row in read_jsonl(path):
        encoded = encode_chat(
            tokenizer, row["messages"], row.get("tools"), loss_on=loss_on, max_length=max_length
        )
        if any(label != IGNORE for label in encoded["labels"]):
            rows.append(encoded)
        else:
            dropped += 1
    return rows, dropped


def dpo_row(row: dict) -> dict[str, Any]:
    """Azure/OpenAI DPO JSONL → trl's conversational prompt/chosen/rejected."""
    prompt = [_clean(m) for m in row["input"]["messages"]]
    out: dict[str, Any] = {
        "prompt": prompt,
        "chosen": [_clean(m) for m in row["preferred_output"]],
        "rejected": [_clean(m) for m in row["non_preferred_output"]],
    }
    if row["input"].get("tools"):
        out["tools"] = row["input"]["tools"]
    return out


def dpo_rows(path: str | Path) -> list[dict[str, Any]]:
    return [dpo_row(row) for row in read_jsonl(path)]
