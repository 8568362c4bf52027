"""Findings: the raw, picklable form of a diagnostic, and the collector that aggregates them.

Workers scan byte ranges of a file without knowing their first line number, so a finding holds a
line relative to its chunk; the parent shifts it and only then builds `Diagnostic`s. Repeats are
counted in full, but only the first `keep` of each code are kept (the legacy tool printing 578
row indexes inline is the counter-example).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reconciler.errors import Diagnostic, Location, Severity

from .codes import rule

DEFAULT_KEEP = 20


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    json_path: str | None = None
    severity: Severity | None = None  # None: the rule's default

    def shifted(self, lines: int) -> Finding:
        return self if self.line is None else replace(self, line=self.line + lines)

    def diagnostic(self, file: str) -> Diagnostic:
        known = rule(self.code)
        location = Location(file=file, line=self.line, column=self.column, json_path=self.json_path)
        return Diagnostic(
            code=self.code,
            severity=self.severity or known.severity,
            message=self.message,
            location=location,
            hint=known.hint,
        )


@dataclass
class Findings:
    """Counts every finding; keeps the first `keep` of each code, in file order."""

    keep: int = DEFAULT_KEEP
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[Finding] = field(default_factory=list)
    # Statistics-like rules (EX_MISSING_SYSTEM, IMG_URL_UNVERIFIED, ...) become one diagnostic
    # each: code -> [count, first line]. A line per example would bury the real problems.
    tallies: dict[str, list[int]] = field(default_factory=dict)

    def tally(self, code: str, line: int) -> None:
        entry = self.tallies.get(code)
        if entry is None:
            self.tallies[code] = [1, line]
        else:
            entry[0] += 1

    def add(self, finding: Finding) -> None:
        seen = self.counts.get(finding.code, 0)
        self.counts[finding.code] = seen + 1
        if seen < self.keep:
            self.kept.append(finding)

    def report(
        self,
        code: str,
        message: str,
        line: int | None = None,
        json_path: str | None = None,
        *,
        column: int | None = None,
        severity: Severity | None = None,
    ) -> None:
        self.add(Finding(code, message, line, column, json_path, severity))

    def merge(self, other: Findings, line_offset: int = 0) -> None:
        """Append a later chunk's findings (its lines shifted), keeping the per-code cap."""
        for finding in other.kept:
            seen = self.counts.get(finding.code, 0)
            if seen < self.keep:
                self.kept.append(finding.shifted(line_offset))
            self.counts[finding.code] = seen + 1
        for code, count in other.counts.items():
            kept_there = min(count, other.keep)
            self.counts[code] = self.counts.get(code, 0) + count - kept_there
        for code, (count, first) in other.tallies.items():
            entry = self.tallies.get(code)
            if entry is None:
                self.tallies[code] = [count, first + line_offset]
            else:
                entry[0] += count

    def has(self, code: str) -> bool:
        return code in self.counts or code in self.tallies

    def all_counts(self) -> dict[str, int]:
        merged = dict(self.counts)
        for code, (count, _) in self.tallies.items():
            merged[code] = merged.get(code, 0) + count
        return merged

    def diagnostics(self, file: str) -> list[Diagnostic]:
        """Kept findings and tallies in file order (file-level first), then one summary per
        code whose repeats were cut."""
        located = [f.diagnostic(file) for f in self.kept]
        for code, (count, first) in self.tallies.items():
            message = tally_message(code, count)
            tally = Finding(code, f"{message}; the first at line {first}", first)
            located.append(tally.diagnostic(file))
        located.sort(key=lambda d: (d.location and d.location.line) or 0)
        summaries = [
            summary(code, count, self.keep, file)
            for code, count in self.counts.items()
            if count > self.keep
        ]
        return located + summaries


# What a tally counts, for one and for many (the message starts with the count).
TALLY_MESSAGES = {
    "EX_MISSING_SYSTEM": ("example has no system message", "examples have no system message"),
    "EX_MISSING_USER": ("example has no user message", "examples have no user message"),
    "EX_ADJACENT_SAME_ROLE": (
        "example has two messages in a row with the same role",
        "examples have two messages in a row with the same role",
    ),
    "IMG_URL_UNVERIFIED": (
        "image is a remote URL, not fetched",
        "images are remote URLs, not fetched",
    ),
    "LEGACY_FUNCTIONS": (
        "use of the deprecated functions/function_call",
        "uses of the deprecated functions/function_call",
    ),
    "FILE_CRLF": ("line ends with CRLF", "lines end with CRLF"),
    "EX_TOKENS_UNCERTAIN": (
        "example has images whose token count is a lower bound",
        "examples have images whose token count is a lower bound",
    ),
    "LEGACY_HINTS": (
        "completion does not start with a space",
        "completions do not start with a space",
    ),
}


def tally_message(code: str, count: int) -> str:
    one, many = TALLY_MESSAGES.get(code, ("occurrence", "occurrences"))
    return f"{count:,} {one if count == 1 else many}"


def summary(code: str, count: int, shown: int, file: str) -> Diagnostic:
    known = rule(code)
    return Diagnostic(
        code=code,
        severity=known.severity,
        message=f"{count} findings of {code} in all; the first {shown} are shown",
        location=Location(file=file),
        hint=known.hint,
    )
