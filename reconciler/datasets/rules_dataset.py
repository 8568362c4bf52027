"""Dataset-level rules (research §5.1, §5.8): size, example counts, formats against the model,
duplicates, conflicting labels, and the per-example token limit."""

from __future__ import annotations

from array import array
from typing import Literal

from reconciler.errors import Severity

from .findings import Findings
from .profiles import ModelProfile, is_legacy
from .scan import ScanResult

FILES_API_LIMIT = 512 * 1024 * 1024
NEAR_LIMIT = 500 * 1000 * 1000
MIN_EXAMPLES = 10
MAX_IMAGE_EXAMPLES = 50_000

Role = Literal["training", "validation"]


def check_size(size: int, found: Findings) -> None:
    if size > FILES_API_LIMIT:
        found.report("FILE_TOO_LARGE", f"the file is {size:,} bytes, over 512 MiB")
    elif size > NEAR_LIMIT:
        found.report("FILE_NEAR_SIZE_LIMIT", f"the file is {size:,} bytes, close to 512 MB")


def check_counts(scan: ScanResult, role: Role, found: Findings) -> None:
    if scan.examples < MIN_EXAMPLES:
        code = "FILE_TOO_FEW_EXAMPLES" if role == "training" else "FILE_VALIDATION_FEW_EXAMPLES"
        found.report(code, f"{scan.examples} examples; at least {MIN_EXAMPLES} are needed")
    if scan.image_examples > MAX_IMAGE_EXAMPLES:
        found.report(
            "FILE_TOO_MANY_IMAGE_EXAMPLES",
            f"{scan.image_examples:,} examples have images (max 50,000)",
            scan.first_image_line,
        )


def check_formats(scan: ScanResult, found: Findings) -> None:
    if len(scan.formats) > 1:
        (first, _), (second, line) = sorted(scan.formats.items(), key=lambda f: f[1])[:2]
        found.report(
            "FILE_MIXED_FORMATS", f"a {second} example in a file that starts with {first}", line
        )


def check_model(scan: ScanResult, model: ModelProfile, found: Findings) -> None:
    formats = scan.formats
    if "completion" in formats and not is_legacy(model):
        found.report(
            "FILE_FORMAT_MODEL_MISMATCH",
            f"prompt/completion data is for babbage-002/davinci-002, not {model.id}",
            formats["completion"],
        )
    for fmt in ("chat", "dpo", "rft"):
        if fmt in formats and is_legacy(model):
            found.report(
                "FILE_FORMAT_MODEL_MISMATCH",
                f"{model.id} takes prompt/completion data, not {fmt}",
                formats[fmt],
            )
    if "rft" in formats and "reinforcement" not in model.methods:
        found.report(
            "RFT_MODEL_UNSUPPORTED",
            f"{model.id} does not support reinforcement fine-tuning",
            formats["rft"],
        )
    if "dpo" in formats and "dpo" not in model.methods:
        found.report("DPO_MODEL_UNSUPPORTED", f"{model.id} does not support DPO", formats["dpo"])
    if scan.image_examples and not model.vision:
        found.report(
            "IMG_MODEL_UNSUPPORTED",
            f"{model.id} cannot be fine-tuned on images",
            scan.first_image_line,
        )


def check_duplicates(scan: ScanResult, single_format: str | None, found: Findings) -> None:
    """Identical examples, and (chat/legacy) one prompt with different answers.

    Sets of 64-bit hashes keep this at about 60 bytes per example; the earlier line is looked
    up (a C-speed `array.index`) only for the findings that are kept for display.
    """
    compare_prompts = single_format in ("chat", "completion")
    if all_distinct(scan.hashes) and (not compare_prompts or all_distinct(scan.prompt_hashes)):
        return  # the common case, decided at C speed
    examples: set[int] = set()
    prompts: set[int] = set()
    lines = scan.example_lines
    for index, (example, prompt) in enumerate(zip(scan.hashes, scan.prompt_hashes, strict=True)):
        if example in examples:
            earlier = earlier_line(found, "SET_DUPLICATE_EXAMPLE", lines, scan.hashes, example)
            found.report(
                "SET_DUPLICATE_EXAMPLE", f"the same example as line {earlier}", lines[index]
            )
            continue
        examples.add(example)
        if compare_prompts:
            if prompt in prompts:
                earlier = earlier_line(
                    found, "SET_CONFLICTING_LABELS", lines, scan.prompt_hashes, prompt
                )
                found.report(
                    "SET_CONFLICTING_LABELS",
                    f"the same prompt as line {earlier} with a different answer",
                    lines[index],
                )
            prompts.add(prompt)


def all_distinct(hashes: array) -> bool:
    return len(set(hashes)) == len(hashes)


def earlier_line(found: Findings, code: str, lines: array, hashes: array, value: int) -> str:
    if found.counts.get(code, 0) >= found.keep:
        return "?"  # not displayed: skip the lookup
    return str(lines[hashes.index(value)])


def check_token_limit(
    lines: array, tokens: array, before_trainable: array, limit: int, found: Findings
) -> None:
    for line, count, before in zip(lines, tokens, before_trainable, strict=True):
        if count > limit:
            lost = before >= limit
            found.report(
                "EX_TOO_MANY_TOKENS",
                f"about {count:,} tokens, over the model's {limit:,}-token example limit"
                + ("; truncation removes every trained assistant token" if lost else ""),
                line,
                severity=Severity.ERROR if lost else None,
            )
