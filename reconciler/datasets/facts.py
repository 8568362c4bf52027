"""What the per-example rules learn about one example that the dataset-level rules need."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ExampleFacts:
    images: int = 0
    remote_images: int = 0
