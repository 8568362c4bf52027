"""A run's identity: the digests of its inputs, the run key, and the resolved spec (spec.lock.json).

The key is the digest of a canonical JSON of everything that changes the adapter's weights
(research/local-runs.md §3.2): the base weights, tokenizer and chat template, the data, the
method and the hyperparameters, never placement, cadence, paths or the name. Digests are
`reconciler.fileio`'s (sha256 hex); files are hashed only when they changed (`DigestCache`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reconciler.fileio import DigestCache, bytes_digest
from reconciler.specs.fields import out_of_key
from reconciler.specs.models import LocalHyperparameters, LocalRunSpec, Quantization

RECIPE_VERSION = "ftops-local/1"
"""Bump when the masking, tokenising, training or metrics code changes what a run produces."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_WEIGHT_CONFIGS = ("config.json", "generation_config.json")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
)
_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")

# Fields of `hyperparameters` that do not change the result, as the spec model's markers say: the
# per-device split of the effective batch (placement) and activation checkpointing (same math).
_HP_OUTSIDE_KEY = out_of_key(LocalHyperparameters)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- digests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseDigests:
    weights: str
    tokenizer: str
    chat_template: str


@dataclass(frozen=True)
class RunDigests:
    """The content digests that enter the run key (the data's: the digest of the file's bytes)."""

    base: BaseDigests
    train: str
    valid: str | None = None


@dataclass(frozen=True)
class BasePaths:
    """Where the base model is: a HF directory, or a directory plus a GGUF file in it."""

    model_dir: Path
    gguf_file: str | None
    chat_template_file: Path | None


def resolve_base_paths(spec: LocalRunSpec, base_dir: Path) -> BasePaths:
    """`baseModel.path` (and a template file) resolved against `base_dir`, the directory of the
    spec file (as Dataset paths are); a `*.gguf` path is split into dir + file."""
    base = spec.base_model
    path = (base_dir / base.path).resolve()
    gguf = base.gguf_file
    if gguf is None and path.suffix == ".gguf":
        path, gguf = path.parent, path.name
    template = None
    if base.chat_template != "default":
        template = (base_dir / base.chat_template).resolve()
    return BasePaths(model_dir=path, gguf_file=gguf, chat_template_file=template)


def base_model_digests(paths: BasePaths, cache_dir: Path | None = None) -> BaseDigests:
    """Digests of the base weights, tokenizer and chat template, hashing only changed files."""
    with DigestCache(cache_dir) as cache:
        return _base_digests(paths, cache)


def compute_digests(
    spec: LocalRunSpec,
    root: Path,
    train_path: Path,
    valid_path: Path | None,
    cache_dir: Path | None = None,
    *,
    base_dir: Path | None = None,
) -> RunDigests:
    """All digests of a run; `cache_dir` defaults to `{root}/.ftops/cache`, `base_dir` (where
    `baseModel.path` is resolved: the spec file's directory) to `root`."""
    with DigestCache(cache_dir or root / ".ftops" / "cache") as cache:
        base = _base_digests(resolve_base_paths(spec, base_dir or root), cache)
        train = cache.digest(train_path)
        valid = cache.digest(valid_path) if valid_path else None
    return RunDigests(base=base, train=train, valid=valid)


def _base_digests(paths: BasePaths, cache: DigestCache) -> BaseDigests:
    """A GGUF file carries its tokenizer and template, so its digest stands for all three unless a
    template file overrides the template. A HF directory is split into weight files (+ config),
    tokenizer files and chat-template files (falling back to the tokenizer's when there is none).
    """
    if paths.gguf_file is not None:
        weights = tokenizer = template = cache.digest(paths.model_dir / paths.gguf_file)
    else:
        weights, tokenizer, template = _hf_directory_digests(paths.model_dir, cache)
    if paths.chat_template_file is not None:
        template = cache.digest(paths.chat_template_file)
    return BaseDigests(weights=weights, tokenizer=tokenizer, chat_template=template)


def _hf_directory_digests(model_dir: Path, cache: DigestCache) -> tuple[str, str, str]:
    files = sorted(p for p in model_dir.iterdir() if p.is_file())

    def digests(keep: Callable[[str], bool]) -> dict[str, str]:
        return {p.name: cache.digest(p) for p in files if keep(p.name)}

    weights = digests(lambda name: name.endswith(_WEIGHT_SUFFIXES) or name in _WEIGHT_CONFIGS)
    tokenizer = _combine(digests(lambda name: name in _TOKENIZER_FILES))
    templates = digests(lambda name: name in _TEMPLATE_FILES)
    return _combine(weights), tokenizer, (_combine(templates) if templates else tokenizer)


def _combine(named_digests: dict[str, str]) -> str:
    return bytes_digest(canonical_json(named_digests).encode())


# --- the run key ----------------------------------------------------------------------------


def _normalised_adapter(spec: LocalRunSpec) -> dict[str, Any]:
    adapter = spec.adapter.model_dump(by_alias=True)
    targets = adapter["targetModules"]
    if isinstance(targets, list):
        adapter["targetModules"] = sorted(set(targets))
    if spec.adapter.type == "qlora":
        quant = spec.adapter.quantization or Quantization()
        adapter["quantization"] = quant.model_dump(by_alias=True)
    else:
        adapter.pop("quantization")
    return adapter


def _normalised_hyperparameters(spec: LocalRunSpec) -> dict[str, Any]:
    hp = {
        k: v
        for k, v in spec.hyperparameters.model_dump(by_alias=True).items()
        if k not in _HP_OUTSIDE_KEY
    }
    if spec.method != "dpo":
        hp.pop("beta")
    return hp


def run_identity(spec: LocalRunSpec, digests: RunDigests) -> dict[str, Any]:
    """What the key hashes: everything that changes the adapter, nothing about placement."""
    return {
        "kind": "LocalRun",  # TrainingRun's first name: renaming it here would retrain every run
        "recipe": RECIPE_VERSION,
        "base": {
            "weights": digests.base.weights,
            "tokenizer": digests.base.tokenizer,
            "chatTemplate": digests.base.chat_template,
        },
        "data": {"train": digests.train, "valid": digests.valid},
        "method": spec.method,
        "lossOn": spec.loss_on,
        "adapter": _normalised_adapter(spec),
        "hyperparameters": _normalised_hyperparameters(spec),
        "precision": spec.hyperparameters.precision,
        "seed": spec.hyperparameters.seed,
    }


def run_key(spec: LocalRunSpec, digests: RunDigests) -> str:
    """The digest of the canonical identity; excludes compute, outputs cadence, paths and name."""
    return bytes_digest(canonical_json(run_identity(spec, digests)).encode())


# --- the resolved spec ----------------------------------------------------------------------


def gradient_accumulation(spec: LocalRunSpec, world_size: int | None = None) -> int:
    """Effective batch = perDevice × gradAccum × world; `check_local_run` checks it divides."""
    hp = spec.hyperparameters
    world = world_size or spec.compute.world_size
    return max(1, hp.batch_size // (hp.per_device_batch_size * world))


def resolved_run_spec(
    name: str,
    spec: LocalRunSpec,
    key: str,
    digests: RunDigests,
    *,
    root: Path,
    train_path: Path,
    valid_path: Path | None,
    train_format: str = "auto",
    base_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """The content of `spec.lock.json`: all the trainer needs, with absolute paths.

    `base_dir` is where `baseModel.path` is resolved (the spec file's directory; default `root`);
    `cache_dir` (default `{root}/.ftops/cache`) holds dequantised GGUF bases.
    """
    base = resolve_base_paths(spec, base_dir or root)
    cache_dir = cache_dir or root / ".ftops" / "cache"
    return {
        "apiVersion": "ftops/v1",
        "name": name,
        "key": key,
        "recipe": RECIPE_VERSION,
        "spec": spec.model_dump(by_alias=True, mode="json"),
        "paths": {
            "baseModelDir": str(base.model_dir),
            "ggufFile": base.gguf_file,
            "chatTemplateFile": str(base.chat_template_file) if base.chat_template_file else None,
            "training": str(train_path.resolve()),
            "validation": str(valid_path.resolve()) if valid_path else None,
            "cacheDir": str(cache_dir.resolve()),
        },
        "trainingFormat": train_format,
        "digests": {
            "base": asdict(digests.base),
            "train": digests.train,
            "valid": digests.valid,
        },
        "plan": {
            "worldSize": spec.compute.world_size,
            "perDeviceBatchSize": spec.hyperparameters.per_device_batch_size,
            "gradientAccumulation": gradient_accumulation(spec),
        },
    }
