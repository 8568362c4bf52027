"""What the dataset rules need to know about a base model, and a fallback table for bare ids.

The catalog (`reconciler.catalog`) is the source of truth; its `ModelInfo` satisfies
`ModelProfile`, so callers pass `catalog.model(id)` for the full checks. This package may not
import the catalog (they are independent layers), so a bare model id is resolved here from
the families of research/datasets.md §1, and a test keeps this table in step with the catalog.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol


class ModelProfile(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def encoding(self) -> str: ...
    @property
    def example_token_limit(self) -> int: ...
    @property
    def methods(self) -> Collection[str]: ...
    @property
    def vision(self) -> bool: ...


@dataclass(frozen=True)
class Profile:
    id: str
    encoding: str
    example_token_limit: int
    methods: tuple[str, ...] = ("supervised",)
    vision: bool = False

    @property
    def legacy(self) -> bool:
        return is_legacy(self)


# (id prefix, encoding, limit, methods, vision); the longest matching prefix wins.
FAMILIES: tuple[tuple[str, str, int, tuple[str, ...], bool], ...] = (
    ("gpt-4o-mini", "o200k_base", 65_536, ("supervised",), False),
    ("gpt-4o", "o200k_base", 65_536, ("supervised", "dpo"), True),  # 2024-08-06
    ("gpt-4.1-nano", "o200k_base", 32_768, ("supervised",), False),
    ("gpt-4.1-mini", "o200k_base", 65_536, ("supervised", "dpo"), False),
    ("gpt-4.1", "o200k_base", 65_536, ("supervised", "dpo"), True),
    ("o4-mini", "o200k_base", 65_536, ("reinforcement",), False),
    ("gpt-35-turbo-0613", "cl100k_base", 4_096, ("supervised",), False),
    ("gpt-35-turbo", "cl100k_base", 16_385, ("supervised",), False),
    ("gpt-4-0613", "cl100k_base", 8_192, ("supervised",), False),
    ("babbage-002", "cl100k_base", 16_384, ("supervised",), False),
    ("davinci-002", "cl100k_base", 16_384, ("supervised",), False),
    # Open models on Foundry: o200k_base is an estimate (their tokenizers are not installed).
    ("Ministral-3B", "o200k_base", 32_768, ("supervised",), False),
    ("Qwen-32B", "o200k_base", 32_768, ("supervised",), False),
    ("Llama-3.3-70B-Instruct", "o200k_base", 32_768, ("supervised",), False),
    ("gpt-oss-20b", "o200k_base", 32_768, ("supervised",), False),
    # Phi, serverless in hub projects: the nearest tiktoken encoding of each tokenizer.
    ("Phi-4-mini", "o200k_base", 131_072, ("supervised",), False),
    ("Phi-4", "cl100k_base", 16_384, ("supervised",), False),
    ("Phi-3-mini-4k", "cl100k_base", 4_096, ("supervised",), False),
    ("Phi-3-mini-128k", "cl100k_base", 131_072, ("supervised",), False),
    ("Phi-3-medium-4k", "cl100k_base", 4_096, ("supervised",), False),
    ("Phi-3-medium-128k", "cl100k_base", 131_072, ("supervised",), False),
)
LEGACY_MODELS = ("babbage-002", "davinci-002")


def fallback_profile(model_id: str) -> Profile | None:
    matches = [f for f in FAMILIES if model_id.startswith(f[0])]
    if not matches:
        return None
    _prefix, encoding, limit, methods, vision = max(matches, key=lambda f: len(f[0]))
    return Profile(model_id, encoding, limit, methods, vision)


def is_legacy(profile: ModelProfile) -> bool:
    return profile.id.startswith(LEGACY_MODELS)


def resolve(model: str | ModelProfile | None) -> ModelProfile | None:
    if model is None or not isinstance(model, str):
        return model
    return fallback_profile(model)
