"""Diagnostics and the error tree.

Every problem ftops reports is a `Diagnostic`: a stable code, a severity, a location and a hint.
Problems are collected and reported all at once; an exception carries the whole list.

    FtopsError                 code, message, location, hint
    ├── SpecError              invalid specs or data (exit 1); carries diagnostics
    ├── ProviderError          an API call failed; the SDK error is chained as __cause__
    │   ├── RetryableError     429, 5xx, dropped connections: worth another try
    │   └── PermanentError     4xx other than 408/429: retrying will not help
    ├── GuardError             refused by a guard or policy (exit 4): budget, maxDeletes,
    │                          protect, stale saved plan
    └── ConvergenceError       apply finished but a re-plan still shows changes (exit 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Self


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# Plain frozen dataclasses rather than pydantic models: `ftops validate data.jsonl` imports
# this module and nothing else that needs pydantic (0.15 s of start-up). Pydantic models that
# hold them (the saved plan, desired state) validate and serialise dataclasses as fields.
@dataclass(frozen=True, kw_only=True)
class Location:
    """Where a value came from: a file, and (1-based) line and column when known."""

    file: str
    line: int | None = None
    column: int | None = None
    json_path: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    @classmethod
    def of_file(cls, path: str | Path) -> Location:
        return cls(file=str(path))


@dataclass(frozen=True, kw_only=True)
class Diagnostic:
    """One problem, with a stable code, a location and a hint on how to fix it."""

    code: str
    severity: Severity
    message: str
    location: Location | None = None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_json(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "jsonPath": loc.json_path if loc else None,
            "message": self.message,
            "hint": self.hint,
        }


def error(
    code: str, message: str, location: Location | None = None, hint: str | None = None
) -> Diagnostic:
    return Diagnostic(
        code=code, severity=Severity.ERROR, message=message, location=location, hint=hint
    )


def warning(
    code: str, message: str, location: Location | None = None, hint: str | None = None
) -> Diagnostic:
    return Diagnostic(
        code=code, severity=Severity.WARNING, message=message, location=location, hint=hint
    )


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


class ExitCode(IntEnum):
    """Every command's exit codes, in one place."""

    OK = 0
    ERROR = 1
    CHANGES = 2  # plan --detailed-exitcode: there is something to do
    IN_PROGRESS = 3  # apply made progress but has not converged yet (training in flight)
    GUARD = 4  # refused by a guard or a policy before anything changed


class FtopsError(Exception):
    """Base of every error ftops raises on purpose; may carry several diagnostics."""

    exit_code: int = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        code: str = "FTOPS_ERROR",
        location: Location | None = None,
        hint: str | None = None,
        diagnostics: Sequence[Diagnostic] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.location = location
        self.hint = hint
        self._all = tuple(diagnostics)

    @classmethod
    def of(cls, diagnostics: Sequence[Diagnostic]) -> Self:
        """One error for a list of problems: the first error names it, all are reported."""
        first = next((d for d in diagnostics if d.is_error), diagnostics[0])
        return cls(
            first.message,
            code=first.code,
            location=first.location,
            hint=first.hint,
            diagnostics=diagnostics,
        )

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._all) or [error(self.code, self.message, self.location, self.hint)]


class SpecError(FtopsError):
    """Invalid specs or data; raised with `SpecError.of(diagnostics)`, every problem found."""


class ProviderError(FtopsError):
    """An API call failed. The SDK's own exception is chained as __cause__."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "PROVIDER_ERROR",
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.status = status


class RetryableError(ProviderError):
    """Throttling, server errors, dropped connections: another try may succeed."""


class PermanentError(ProviderError):
    """Client errors: the same call will fail the same way."""


class GuardError(FtopsError):
    """Refused by a guard or a policy before anything changed."""

    exit_code = ExitCode.GUARD


class ConvergenceError(FtopsError):
    """Apply finished, but the live state still differs from the specs."""
