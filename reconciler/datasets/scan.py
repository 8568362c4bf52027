"""One streaming pass over a JSONL file, or a byte range of one: strict JSON, the per-example
rules, example hashes and (optionally) token counts.

parallel.scan_file runs it over the whole file: in one process, feeding each block to the
sha256 as well, or in forked workers over byte ranges while the parent hashes the file.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .encodings import get_counter
from .facts import ExampleFacts
from .findings import DEFAULT_KEEP, Findings
from .jsonline import check_duplicate_keys, has_special_token_text, report_invalid
from .reading import BOM, numbered_lines
from .rules_chat import check_chat
from .rules_completion import check_completion
from .rules_dpo import check_dpo
from .rules_rft import check_rft
from .tokens import Counter

Checker = Callable[[dict[str, Any], int, Findings], ExampleFacts]
CHECKERS: dict[str, Checker] = {
    "chat": check_chat,
    "dpo": check_dpo,
    "completion": check_completion,
    "rft": check_rft,
}


@dataclass(frozen=True)
class ScanOptions:
    format: str = "auto"  # auto | chat | dpo | completion
    encoding: str | None = None  # count tokens with it; None: structure only
    keep: int = DEFAULT_KEEP


@dataclass
class ScanResult:
    """Everything one range (or, merged, the whole file) yields. Per-example arrays line up."""

    lines: int = 0
    examples: int = 0  # non-blank lines
    findings: Findings = field(default_factory=Findings)
    formats: dict[str, int] = field(default_factory=dict)  # format -> first line
    image_examples: int = 0
    first_image_line: int = 0
    # Line numbers and token counts fit 32 bits: half the memory of 64-bit arrays.
    example_lines: array = field(default_factory=lambda: array("I"))
    # Python's 64-bit hash() of each example's canonical form and of its prompt part. hash()
    # is salted per interpreter, so these compare only within one process and its forked
    # workers (scan_file never uses spawned workers); nothing stores them.
    hashes: array = field(default_factory=lambda: array("q"))
    prompt_hashes: array = field(default_factory=lambda: array("q"))
    tokens: array = field(default_factory=lambda: array("I"))
    before_trainable: array = field(default_factory=lambda: array("I"))
    uncertain_lines: array = field(default_factory=lambda: array("I"))
    trailing_blanks: list[int] = field(default_factory=list)
    tokenized: int = 0
    digest: str = ""
    size: int = 0

    def merge(self, later: ScanResult) -> None:
        offset = self.lines
        if later.examples and self.trailing_blanks:
            for number in self.trailing_blanks:
                self.findings.report("LINE_BLANK", "blank line", number)
            self.trailing_blanks = []
        self.trailing_blanks += [n + offset for n in later.trailing_blanks]
        self.findings.merge(later.findings, offset)
        for fmt, first in later.formats.items():
            self.formats.setdefault(fmt, first + offset)
        if later.image_examples and not self.image_examples:
            self.first_image_line = later.first_image_line + offset
        self.image_examples += later.image_examples
        self.example_lines.extend(n + offset for n in later.example_lines)
        self.uncertain_lines.extend(n + offset for n in later.uncertain_lines)
        for name in ("hashes", "prompt_hashes", "tokens", "before_trainable"):
            getattr(self, name).extend(getattr(later, name))
        self.lines += later.lines
        self.examples += later.examples
        self.tokenized += later.tokenized


def scan_blocks(blocks: Iterable[bytes], options: ScanOptions, at_file_start: bool) -> ScanResult:
    result = ScanResult(findings=Findings(keep=options.keep))
    counter = Counter(options.encoding, get_counter(options.encoding)) if options.encoding else None
    lines = numbered_lines(strip_bom(blocks) if at_file_start else blocks)
    for number, line in lines:
        result.lines = number
        if not line or line.isspace():
            result.trailing_blanks.append(number)
            continue
        if result.trailing_blanks:
            for blank in result.trailing_blanks:
                result.findings.report("LINE_BLANK", "blank line", blank)
            result.trailing_blanks = []
        result.examples += 1
        scan_line(line, number, options, counter, result)
    result.tokenized = counter.examples if counter else 0
    return result


def scan_line(
    line: bytes, number: int, options: ScanOptions, counter: Counter | None, result: ScanResult
) -> None:
    found = result.findings
    if line.endswith(b"\r"):
        found.tally("FILE_CRLF", number)
    try:
        example = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        report_invalid(line, number, exc, found)
        return
    if type(example) is not dict:
        found.report("LINE_NOT_OBJECT", "the line is not a JSON object", number)
        return
    if has_special_token_text(line):
        found.report(
            "EX_SPECIAL_TOKEN_TEXT", "text holds a special token such as <|endoftext|>", number
        )
    fmt = example_format(example, options)
    if fmt is None:
        check_duplicate_keys(line, canonical(example), number, found)
        found.report("EX_UNKNOWN_FORMAT", "not a chat, DPO or prompt/completion example", number)
        return
    result.formats.setdefault(fmt, number)
    facts = CHECKERS[fmt](example, number, found)
    record_identity(line, number, example, fmt, facts, result)
    if facts.images:
        if not result.image_examples:
            result.first_image_line = number
        result.image_examples += 1
    if counter is not None:
        pairs = facts.pairs if len(example) == 1 else None
        record_count(example, fmt, pairs, number, counter, result)


def example_format(example: dict[str, Any], options: ScanOptions) -> str | None:
    if options.format != "auto":
        return options.format
    return detect_format(example)


def record_count(
    example: dict[str, Any],
    fmt: str,
    pairs: tuple[tuple[str, str], ...] | None,
    number: int,
    counter: Counter,
    result: ScanResult,
) -> None:
    counted = counter.plain(pairs) if pairs is not None else counter.count(example, fmt)
    result.tokens.append(counted.tokens)
    result.before_trainable.append(counted.before_trainable)
    if counted.uncertain:
        result.uncertain_lines.append(number)


def count_blocks(blocks: Iterable[bytes], options: ScanOptions, at_file_start: bool) -> ScanResult:
    """Only the token counts of a range whose rules another worker checked (ranges.py): the
    examples scan_blocks would count, in the same order, with the same counts."""
    if not options.encoding:
        raise ValueError("count_blocks needs an encoding")
    result = ScanResult()
    counter = Counter(options.encoding, get_counter(options.encoding))
    for number, line in numbered_lines(strip_bom(blocks) if at_file_start else blocks):
        if not line or line.isspace():
            continue
        try:
            example = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(example) is not dict:
            continue
        fmt = example_format(example, options)
        if fmt is not None:
            record_count(example, fmt, plain_pairs(example), number, counter, result)
    result.tokenized = counter.examples
    return result


def plain_pairs(example: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """(role, text) of every message when the example is nothing else: Counter.plain's input.
    Looser than the rules' own test (empty texts pass), which changes no count: plain() is the
    fast path of the same formula."""
    if len(example) != 1:
        return None
    messages = example.get("messages")
    if type(messages) is not list:
        return None
    pairs = []
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or type(content) is not str:
            return None
        pairs.append((role, content))
    return tuple(pairs)


def record_identity(
    line: bytes,
    number: int,
    example: dict[str, Any],
    fmt: str,
    facts: ExampleFacts,
    result: ScanResult,
) -> None:
    """The example's and its prompt's hashes, and the duplicate-key check, which needs the
    parsed key count: counted directly for plain chat, from the canonical JSON otherwise."""
    pairs = facts.pairs
    if pairs is not None and len(example) == 1:
        example_hash = hash(pairs)
        prompt_hash = hash(pairs[: max(facts.last_assistant, 0)])
        if line.count(b'":') > 1 + 2 * len(pairs):
            check_duplicate_keys(line, canonical(example), number, result.findings)
    else:
        serialised = canonical(example)
        check_duplicate_keys(line, serialised, number, result.findings)
        example_hash = hash(serialised)
        prompt_hash = hash(prompt_part(example, fmt))
    result.example_lines.append(number)
    result.hashes.append(example_hash)
    result.prompt_hashes.append(prompt_hash)


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def detect_format(example: dict[str, Any]) -> str | None:
    if "messages" in example:
        return "chat"
    if "input" in example or "preferred_output" in example or "non_preferred_output" in example:
        return "dpo"
    if "prompt" in example or "completion" in example:
        return "completion"
    return None


def prompt_part(example: dict[str, Any], fmt: str) -> bytes:
    """What the answer responds to: for chat, everything before the last assistant turn."""
    if fmt == "dpo":
        return orjson.dumps(example.get("input"), option=orjson.OPT_SORT_KEYS)
    if fmt == "completion":
        return orjson.dumps(example.get("prompt"))
    messages = example.get("messages")
    if isinstance(messages, list):
        last = len(messages) - 1
        while last >= 0 and not (
            isinstance(messages[last], dict) and messages[last].get("role") == "assistant"
        ):
            last -= 1
        messages = messages[:last] if last >= 0 else messages
    prompt = {
        "messages": messages,
        "tools": example.get("tools"),
        "functions": example.get("functions"),
    }
    return orjson.dumps(prompt, option=orjson.OPT_SORT_KEYS)


def strip_bom(blocks: Iterable[bytes]) -> Iterator[bytes]:
    first = True
    for block in blocks:
        if first and block.startswith(BOM):
            block = block[len(BOM) :]
        first = False
        yield block


def hashed(blocks: Iterable[bytes], sha: Any) -> Iterator[bytes]:
    for block in blocks:
        sha.update(block)
        yield block
