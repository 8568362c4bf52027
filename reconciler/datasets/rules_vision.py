"""Vision content parts (research §5.5): part shapes, where images may be, URLs and inline data."""

from __future__ import annotations

from typing import Any

from reconciler.errors import Severity

from .facts import ExampleFacts
from .findings import Findings
from .images import decode_head, decoded_size, read_header, split_data_uri

MAX_IMAGE_BYTES = 10 * 1024 * 1024
DETAILS = ("low", "high", "auto")
IMAGES_PER_EXAMPLE_HARD = 64  # Azure's limits table
IMAGES_PER_EXAMPLE_SOFT = 10  # Azure's troubleshooting table


def check_parts(
    parts: list[Any], role: Any, path: str, line: int, found: Findings, facts: ExampleFacts
) -> None:
    for j, part in enumerate(parts):
        part_path = f"{path}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                found.report("IMG_PART_INVALID", "text part has no string text", line, part_path)
        elif kind == "image_url":
            facts.images += 1
            if role != "user":
                found.report("IMG_NOT_IN_USER", f"image in a {role} message", line, part_path)
            check_image(part.get("image_url"), f"{part_path}.image_url", line, found, facts)
        else:
            found.report(
                "IMG_PART_INVALID", f"part type {kind!r} is not text or image_url", line, part_path
            )


def check_image(image: Any, path: str, line: int, found: Findings, facts: ExampleFacts) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        found.report("IMG_PART_INVALID", "image_url is not an object with a string url", line, path)
        return
    if "detail" in image and image["detail"] not in DETAILS:
        found.report(
            "IMG_DETAIL_INVALID", f"detail {image['detail']!r} is not low/high/auto", line, path
        )
    url: str = image["url"]
    if url.startswith("https://"):
        facts.remote_images += 1
        found.tally("IMG_URL_UNVERIFIED", line)
    elif url.startswith("data:"):
        check_inline_image(url, f"{path}.url", line, found)
    else:
        found.report(
            "IMG_URL_SCHEME",
            f"url starts with {url[:16]!r}, not https:// or data:image/",
            line,
            path,
        )


def check_inline_image(url: str, path: str, line: int, found: Findings) -> None:
    parts = split_data_uri(url)
    if parts is None:
        found.report(
            "IMG_URL_SCHEME", "data URI is not data:image/(jpeg|png|webp);base64,", line, path
        )
        return
    declared, payload = parts
    if decoded_size(payload) > MAX_IMAGE_BYTES:
        found.report("IMG_TOO_LARGE", f"image is {decoded_size(payload):,} bytes", line, path)
    data = decode_head(payload)
    header = read_header(data) if data else None
    if header is None or header.kind != declared:
        found.report(
            "IMG_DATA_INVALID",
            f"data does not decode to a {declared} image"
            + (f" (it is {header.kind})" if header else ""),
            line,
            path,
        )
    elif not header.mode_ok:
        found.report("IMG_MODE_UNSUPPORTED", "image is not RGB or RGBA", line, path)


def check_image_count(facts: ExampleFacts, line: int, found: Findings) -> None:
    if facts.images > IMAGES_PER_EXAMPLE_HARD:
        found.report("IMG_TOO_MANY", f"{facts.images} images in one example (max 64)", line)
    elif facts.images > IMAGES_PER_EXAMPLE_SOFT:
        found.report(
            "IMG_TOO_MANY",
            f"{facts.images} images in one example; Azure's troubleshooting page says 10 or fewer",
            line,
            severity=Severity.WARNING,
        )
