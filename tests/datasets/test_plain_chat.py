"""rules_chat.plain_chat, the one-loop check of the common example, decides exactly what the
general rules decide, or steps aside: compared on every shape a few roles and texts can make."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from reconciler.datasets import rules_chat
from reconciler.datasets.findings import Findings

ROLES = ("system", "user", "assistant", "tool", "developer", 7)
TEXTS = ("hello", "", "  \n", None, [{"type": "text", "text": "hi"}])
FLAWS = (
    ("content", ""),
    ("content", " \t"),
    ("content", 3),
    ("role", "tool"),
    ("role", "system"),
    ("weight", 0),
    ("name", "bob"),
)


def checked(example: dict[str, Any]) -> tuple[Any, ...]:
    found = Findings(keep=100)
    facts = rules_chat.check_chat(example, 3, found)
    diagnostics = [d.as_json() for d in found.diagnostics("f.jsonl")]
    return facts.pairs, facts.last_assistant, facts.images, diagnostics


def examples() -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for length in range(8):
        for roles in itertools.product(ROLES[:3], repeat=length):
            made.append({"messages": [{"role": r, "content": f"text {r}"} for r in roles]})
    rng = random.Random(12)
    for _ in range(3000):
        messages: list[Any] = []
        for _ in range(rng.randint(0, 6)):
            plain = rng.random() < 0.8
            message: Any = {
                "role": rng.choice(ROLES[:3] if plain else ROLES),
                "content": "text" if plain else rng.choice(TEXTS),
            }
            if rng.random() < 0.1:
                message["weight"] = rng.choice((0, 1))
            if rng.random() < 0.05:
                message = "not a message"
            elif rng.random() < 0.05:
                del message["content"]
            messages.append(message)
        example: dict[str, Any] = {"messages": messages}
        if rng.random() < 0.05:
            example["tools"] = []
        made.append(example)
    for _ in range(1000):  # turns in order, then perhaps one thing wrong
        turns = ["system"] * rng.randint(0, 1) + ["user", "assistant"] * rng.randint(1, 3)
        messages = [{"role": r, "content": f"{r} says"} for r in turns]
        if rng.random() < 0.5:
            broken = rng.choice(messages)
            key, value = rng.choice(FLAWS)
            broken[key] = value
        made.append({"messages": messages})
    return made


def test_the_fast_path_decides_what_the_general_rules_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases = examples()
    fast = [checked(e) for e in cases]
    taken = sum(rules_chat.plain_chat(e["messages"], 1, Findings()) is not None for e in cases)
    monkeypatch.setattr(rules_chat, "plain_chat", lambda messages, line, found: None)
    general = [checked(e) for e in cases]
    assert fast == general
    assert 500 < taken < len(cases) - 1000  # both paths ran, many times
