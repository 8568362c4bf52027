"""The public entry points: inspect one dataset, compare training with validation, diff two
versions. Everything here composes the streaming scan (scan.py), the dataset-level rules
(rules_dataset.py) and the token cache (cache.py) into a `DatasetReport`."""

from __future__ import annotations

from array import array
from collections import Counter as Multiset
from collections.abc import Iterable
from pathlib import Path

from reconciler.errors import Diagnostic, Severity
from reconciler.fileio import DigestCache, file_digest, new_hasher

from . import cache
from .encodings import DEFAULT_ENCODING
from .findings import DEFAULT_KEEP, Findings
from .parallel import scan_file
from .profiles import ModelProfile, resolve
from .reading import (
    BOM,
    HEAD_BYTES,
    UTF16_BOMS,
    looks_like_json_document,
    read_head,
)
from .report import DataDiff, DatasetReport, Fingerprints, Format, TokenStats
from .rules_dataset import (
    Role,
    check_counts,
    check_duplicates,
    check_formats,
    check_model,
    check_size,
    check_token_limit,
)
from .scan import ScanOptions, ScanResult, hashed, scan_blocks

FORMATS = ("auto", "chat", "dpo", "completion", "rft")


class TokenizationCounter:
    """How many examples this process has tokenized: a cached inspection adds none."""

    examples = 0


TOKENIZED = TokenizationCounter()


def inspect_dataset(
    path: Path | str,
    *,
    role: Role = "training",
    format: str = "auto",
    base_model: str | ModelProfile | None = None,
    count_tokens: bool = True,
    cache_dir: Path | None = None,
    display_path: str | None = None,
    keep: int = DEFAULT_KEEP,
    workers: int | None = None,
) -> DatasetReport:
    """Validate a JSONL dataset in one streaming pass: digest, rules, and token counts."""
    path = Path(path)
    file = display_path or str(path)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    if not path.is_file():
        found = Findings(keep)
        found.report("FILE_NOT_FOUND", f"{file} does not exist or is not a file")
        return DatasetReport(file, role, "", 0, 0, "unknown", None, found.diagnostics(file))
    model = resolve(base_model)
    encoding = model.encoding if model else DEFAULT_ENCODING
    head = Findings(keep)
    if blocked_by_head(path, head):
        scan = ScanResult(digest=file_digest(path), size=path.stat().st_size)
        return build_report(file, role, format, scan, head, model, None, keep)
    options = ScanOptions(format, encoding if count_tokens else None, keep)
    scan, from_cache = scan_with_cache(path, options, cache_dir, workers)
    return build_report(file, role, format, scan, head, model, encoding, keep, from_cache)


def validate_jsonl(
    path: Path | str, *, count_tokens: bool = True, **options: object
) -> list[Diagnostic]:
    """The diagnostics of one file, as `ftops validate data/train.jsonl` prints them."""
    return inspect_dataset(path, count_tokens=count_tokens, **options).diagnostics  # type: ignore[arg-type]


def blocked_by_head(path: Path, found: Findings) -> bool:
    """File-level problems seen in the first bytes; True when lines are not worth checking."""
    head = read_head(path)
    if not head:
        found.report("FILE_EMPTY", "the file is empty")
        return True
    if head.startswith(UTF16_BOMS) or b"\x00" in head[:2]:
        # JSON text starts with an ASCII character, so a NUL among the first two bytes is
        # UTF-16 (or UTF-32) even without a byte-order mark.
        found.report("FILE_ENCODING_UTF16", "the file is UTF-16, not UTF-8", 1)
        return True
    if head.startswith(BOM):
        found.report("FILE_BOM", "the file starts with a UTF-8 byte-order mark", 1)
    document_line = looks_like_json_document(head, whole_file=len(head) < HEAD_BYTES)
    if document_line is not None:
        found.report(
            "FILE_NOT_JSONL",
            "the file is one JSON document (an array or pretty-printed), not one object a line",
            document_line,
            column=1,
        )
        return True
    return False


def scan_with_cache(
    path: Path, options: ScanOptions, cache_dir: Path | None, workers: int | None
) -> tuple[ScanResult, bool]:
    """Scan, reusing cached token counts when the file is unchanged."""
    encoding = options.encoding
    if encoding is None or cache_dir is None:
        return counted(scan_file(path, options, workers)), False
    with DigestCache(cache_dir) as digests:
        stat = path.stat()  # before reading: a write while scanning then reads as a change
        remembered = digests.lookup(path)
        cached = cache.load_tokens(cache_dir, remembered, encoding) if remembered else None
        if remembered and cached is not None:
            reused = scan_reusing(cached, remembered, path, options, workers)
            if reused is not None:
                return reused, True
        scan = counted(scan_file(path, options, workers))
        tokens = cache.CachedTokens(scan.tokens, scan.before_trainable, scan.uncertain_lines)
        cache.store_tokens(cache_dir, scan.digest, encoding, tokens)
        digests.remember(path, scan.digest, stat)
    return scan, False


def scan_reusing(
    cached: cache.CachedTokens,
    digest: str,
    path: Path,
    options: ScanOptions,
    workers: int | None,
) -> ScanResult | None:
    """A scan without tokenizing, with the counts cached for `digest`; None when the file turns
    out not to have that digest (or another number of examples)."""
    scan = scan_file(path, ScanOptions(options.format, None, options.keep), workers)
    if scan.digest != digest or len(cached.tokens) != len(scan.hashes):
        return None
    scan.tokens, scan.before_trainable = cached.tokens, cached.before_trainable
    scan.uncertain_lines = cached.uncertain_lines
    return scan


def counted(scan: ScanResult) -> ScanResult:
    TOKENIZED.examples += scan.tokenized
    return scan


def build_report(
    file: str,
    role: Role,
    forced_format: str,
    scan: ScanResult,
    head: Findings,
    model: ModelProfile | None,
    encoding: str | None,
    keep: int,
    from_cache: bool = False,
) -> DatasetReport:
    dataset = dataset_findings(scan, role, forced_format, model, keep)
    fmt = report_format(scan, forced_format)
    tokens = token_stats(scan, encoding, model) if encoding and len(scan.tokens) else None
    found = Findings(keep)
    for part in (head, scan.findings, dataset):
        found.merge(part)
    diagnostics = found.diagnostics(file)
    fingerprints = Fingerprints(scan.example_lines, scan.hashes, scan.prompt_hashes)
    return DatasetReport(
        path=file,
        role=role,
        digest=scan.digest,
        size_bytes=scan.size,
        examples=scan.examples,
        format=fmt,
        tokens=tokens,
        diagnostics=diagnostics,
        from_cache=from_cache,
        counts=found.all_counts(),
        fingerprints=fingerprints,
    )


def dataset_findings(
    scan: ScanResult, role: Role, forced_format: str, model: ModelProfile | None, keep: int
) -> Findings:
    found = Findings(keep)
    if not scan.size:
        return found
    check_size(scan.size, found)
    if scan.lines == 0:
        return found
    check_counts(scan, role, found)
    check_formats(scan, found)
    if model is not None:
        check_model(scan, model, found)
        if len(scan.tokens):
            check_token_limit(
                scan.example_lines,
                scan.tokens,
                scan.before_trainable,
                model.example_token_limit,
                found,
            )
    single = report_format(scan, forced_format)
    check_duplicates(scan, single, found)
    for line in scan.uncertain_lines:
        found.tally("EX_TOKENS_UNCERTAIN", line)
    return found


def report_format(scan: ScanResult, forced_format: str) -> Format:
    if forced_format != "auto":
        return forced_format  # type: ignore[return-value]
    if not scan.formats:
        return "unknown"
    return min(scan.formats.items(), key=lambda f: f[1])[0]  # type: ignore[return-value]


def token_stats(scan: ScanResult, encoding: str, model: ModelProfile | None) -> TokenStats:
    counts = sorted(scan.tokens)
    limit = model.example_token_limit if model else None
    capped = sum(min(c, limit) for c in counts) if limit else sum(counts)
    return TokenStats(
        encoding=encoding,
        total=sum(counts),
        billable=capped,
        examples=len(counts),
        min=counts[0],
        p50=percentile(counts, 50),
        p90=percentile(counts, 90),
        max=counts[-1],
        truncated=sum(1 for c in counts if limit and c > limit),
        limit=limit,
        uncertain=bool(scan.uncertain_lines),
        uncertain_examples=len(scan.uncertain_lines),
    )


def percentile(ordered: list[int], pct: int) -> int:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[rank - 1]


def compare_datasets(
    training: DatasetReport | Path, validation: DatasetReport | Path, *, keep: int = DEFAULT_KEEP
) -> list[Diagnostic]:
    """Pair rules: the two files' formats, and validation examples that are also in training."""
    train = as_report(training, "training")
    valid = as_report(validation, "validation")
    found = Findings(keep)
    if "unknown" not in (train.format, valid.format) and train.format != valid.format:
        found.report(
            "SET_FORMAT_DIFFERS",
            f"validation data is {valid.format}, training data is {train.format}",
        )
    if train.fingerprints and valid.fingerprints:
        check_overlap(train.fingerprints, valid.fingerprints, found)
    return found.diagnostics(valid.path)


def check_overlap(train: Fingerprints, valid: Fingerprints, found: Findings) -> None:
    examples = dict(zip(train.examples, train.lines, strict=True))
    prompts = dict(zip(train.prompts, train.lines, strict=True))
    for line, example, prompt in zip(valid.lines, valid.examples, valid.prompts, strict=True):
        if example in examples:
            found.report(
                "SET_TRAIN_VALID_OVERLAP",
                f"the same example as training line {examples[example]}",
                line,
            )
        elif prompt in prompts:
            found.report(
                "SET_TRAIN_VALID_OVERLAP",
                f"the same prompt as training line {prompts[prompt]}",
                line,
            )


def as_report(value: DatasetReport | Path, role: Role) -> DatasetReport:
    if isinstance(value, DatasetReport):
        return value
    return inspect_dataset(value, role=role, count_tokens=False)


def data_diff(
    old: Iterable[bytes] | Path,
    new: Path | DatasetReport,
    encoding: str | None = DEFAULT_ENCODING,
    *,
    base_model: str | ModelProfile | None = None,
    cache_dir: Path | None = None,
) -> DataDiff:
    """+N / -M examples, token delta and new problem codes between two versions of a dataset.

    `old` is typically the bytes of the previously uploaded file, streamed from the service.
    """
    model = resolve(base_model)
    encoding = model.encoding if model else encoding
    before = (
        inspect_blocks(old, encoding, model)
        if not isinstance(old, Path)
        else inspect_dataset(
            old, base_model=model, count_tokens=encoding is not None, cache_dir=cache_dir
        )
    )
    after = (
        new
        if isinstance(new, DatasetReport)
        else inspect_dataset(
            new, base_model=model, count_tokens=encoding is not None, cache_dir=cache_dir
        )
    )
    added, removed = multiset_changes(before, after)
    delta = None
    if before.tokens is not None and after.tokens is not None:
        delta = after.tokens.total - before.tokens.total
    return DataDiff(
        added_examples=added,
        removed_examples=removed,
        token_delta=delta,
        new_problem_codes=sorted(problem_codes(after) - problem_codes(before)),
        old_digest=before.digest,
        new_digest=after.digest,
    )


def problem_codes(report: DatasetReport) -> set[str]:
    """Codes of errors and warnings (statistics-like information is no "problem")."""
    return {d.code for d in report.diagnostics if d.severity is not Severity.INFO}


def inspect_blocks(
    blocks: Iterable[bytes], encoding: str | None, model: ModelProfile | None
) -> DatasetReport:
    sha = new_hasher()
    size = [0]

    def measured(source: Iterable[bytes]) -> Iterable[bytes]:
        for block in source:
            size[0] += len(block)
            yield block

    scan = scan_blocks(hashed(measured(blocks), sha), ScanOptions("auto", encoding), True)
    scan.digest, scan.size = sha.hexdigest(), size[0]
    TOKENIZED.examples += scan.tokenized
    return build_report(
        "(previous version)", "training", "auto", scan, Findings(), model, encoding, DEFAULT_KEEP
    )


def multiset_changes(before: DatasetReport, after: DatasetReport) -> tuple[int, int]:
    old = Multiset(before.fingerprints.examples if before.fingerprints else array("Q"))
    new = Multiset(after.fingerprints.examples if after.fingerprints else array("Q"))
    return sum((new - old).values()), sum((old - new).values())
