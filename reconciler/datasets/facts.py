"""What the per-example rules learn about one example that the dataset-level rules need."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ExampleFacts:
    images: int = 0
    remote_images: int = 0
    # For a plain-text chat example (only role/content strings): its (role, content) pairs.
    # Hashing these is canonical (whitespace and key order do not matter) and five times
    # cheaper than re-serialising the example with sorted keys.
    pairs: tuple[tuple[str, str], ...] | None = None
    last_assistant: int = -1
