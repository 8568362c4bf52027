"""The results: a dataset's report, its token statistics, and the diff between two versions."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Literal

from reconciler.errors import Diagnostic, Severity

Format = Literal["chat", "dpo", "completion", "rft", "unknown"]


@dataclass(frozen=True)
class TokenStats:
    """Token estimate of one file (all labelled as estimates by whoever prints them)."""

    encoding: str
    total: int
    billable: int  # Σ min(limit, tokens): what one epoch is billed
    examples: int
    min: int
    p50: int
    p90: int
    max: int
    truncated: int  # examples over the limit
    limit: int | None
    uncertain: bool  # remote/high-detail images were counted at their minimum
    uncertain_examples: int = 0

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Fingerprints:
    """64-bit hashes of each example (canonical JSON) and of its prompt part, with lines."""

    lines: array
    examples: array
    prompts: array


@dataclass(frozen=True)
class DatasetReport:
    path: str
    role: Literal["training", "validation"]
    digest: str  # sha256 hex of the file's bytes
    size_bytes: int
    examples: int
    format: Format
    tokens: TokenStats | None
    diagnostics: list[Diagnostic]
    from_cache: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # every finding per code, uncapped
    fingerprints: Fingerprints | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def codes(self) -> set[str]:
        return {d.code for d in self.diagnostics}

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "role": self.role,
            "digest": self.digest,
            "sizeBytes": self.size_bytes,
            "examples": self.examples,
            "format": self.format,
            "tokens": self.tokens.as_json() if self.tokens else None,
            "fromCache": self.from_cache,
            "diagnostics": [d.as_json() for d in self.diagnostics],
        }


@dataclass(frozen=True)
class DataDiff:
    """What changed between the uploaded version of a dataset and the local one."""

    added_examples: int
    removed_examples: int
    token_delta: int | None  # None when tokens were not counted
    new_problem_codes: list[str]
    old_digest: str
    new_digest: str

    @property
    def changed(self) -> bool:
        return self.old_digest != self.new_digest

    def summary(self) -> str:
        text = f"+{self.added_examples} / -{self.removed_examples} examples"
        if self.token_delta is not None:
            text += f", {self.token_delta:+,} tokens"
        if self.new_problem_codes:
            text += ", new problems: " + ", ".join(self.new_problem_codes)
        return text
