"""Local runs without torch: the run key, the run-directory layout, and reading a run's state.

A `LocalRun` is identified by a content key (research/local-runs.md §3.2): the sha256 of a canonical
JSON of everything that changes the adapter's weights. Its work lives in a content-addressed run
directory, and `outputs.json`, written last, is the commit marker:

    {root}/.ftops/runs/{name}/{key[:16]}/
        lock               flock held by the training process (and its launcher) while it runs
        spec.lock.json     the resolved spec: paths, digests, key, planned gradient accumulation
        status.json        phase, step, max_steps, last loss, error (written by the trainer)
        results.csv        Azure's columns, one row per logged step
        checkpoints/checkpoint-N/   only those holding trainer_state.json are complete
        adapter/           adapter_model.safetensors, adapter_config.json (from adapter.tmp/)
        outputs.json       COMMIT MARKER: adapter digests, final metrics, tokens, tokens/s, versions
        train.log          the subprocess's stdout and stderr

The planner maps `read_run_state(...).phase` to an action with `plan_action`:
succeeded → noop, partial → resume, missing → train, running → wait, failed → train again only when
asked. Nothing here imports torch; `check_local_run` gives the plan-time diagnostics.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from reconciler.errors import Diagnostic, Location, error, warning
from reconciler.specs.models import LocalRunSpec, Quantization

RECIPE_VERSION = "ftops-local/1"
"""Bump when the masking, tokenising, training or metrics code changes what a run produces."""

RESULTS_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "validation_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)

SPEC_LOCK = "spec.lock.json"
STATUS = "status.json"
OUTPUTS = "outputs.json"
RESULTS = "results.csv"
LOCK = "lock"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
TRAIN_LOG = "train.log"

Phase = Literal["missing", "partial", "running", "succeeded", "failed"]
Action = Literal["noop", "resume", "train", "wait", "failed"]

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


# --- digests --------------------------------------------------------------------------------


class DigestCache:
    """`(path, size, mtime_ns) → sha256`, kept in `{cache_dir}/digests.json`; safe to delete."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.file = cache_dir / "digests.json" if cache_dir else None
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if self.file and self.file.exists():
            with contextlib.suppress(OSError, ValueError):
                self.entries = json.loads(self.file.read_text())

    def digest(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        hit = self.entries.get(key)
        if hit and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
            return str(hit[2])
        value = sha256_file(path)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, value]
        self.dirty = True
        return value

    def save(self) -> None:
        if not (self.file and self.dirty):
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.file, self.entries)
        self.dirty = False


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _combine(named_digests: dict[str, str]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(named_digests).encode()).hexdigest()


@dataclass(frozen=True)
class BaseDigests:
    weights: str
    tokenizer: str
    chat_template: str


@dataclass(frozen=True)
class RunDigests:
    """The content digests that enter the run key (data digests as `sha256:<hex>` of the bytes)."""

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
    """Digests of the base weights, tokenizer and chat template, hashing only changed files.

    A GGUF file carries its tokenizer and template, so its digest stands for all three unless a
    template file overrides the template. A HF directory is split into weight files (+ config),
    tokenizer files and chat-template files (falling back to the tokenizer's when there is none).
    """
    cache = DigestCache(cache_dir)
    try:
        if paths.gguf_file is not None:
            weights = cache.digest(paths.model_dir / paths.gguf_file)
            tokenizer = template = weights
        else:
            files = sorted(p for p in paths.model_dir.iterdir() if p.is_file())
            weights = _combine(
                {
                    p.name: cache.digest(p)
                    for p in files
                    if p.name.endswith(_WEIGHT_SUFFIXES) or p.name in _WEIGHT_CONFIGS
                }
            )
            tokenizer = _combine(
                {p.name: cache.digest(p) for p in files if p.name in _TOKENIZER_FILES}
            )
            templates = {p.name: cache.digest(p) for p in files if p.name in _TEMPLATE_FILES}
            template = _combine(templates) if templates else tokenizer
        if paths.chat_template_file is not None:
            template = cache.digest(paths.chat_template_file)
    finally:
        cache.save()
    return BaseDigests(weights=weights, tokenizer=tokenizer, chat_template=template)


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
    cache_dir = cache_dir or root / ".ftops" / "cache"
    base = base_model_digests(resolve_base_paths(spec, base_dir or root), cache_dir)
    cache = DigestCache(cache_dir)
    try:
        train = cache.digest(train_path)
        valid = cache.digest(valid_path) if valid_path else None
    finally:
        cache.save()
    return RunDigests(base=base, train=train, valid=valid)


# --- the run key ----------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


# Fields of `hyperparameters` that do not change the result: the per-device split of the effective
# batch (placement) and activation checkpointing (recomputation, same math).
_HP_OUTSIDE_KEY = {"perDeviceBatchSize", "gradientCheckpointing"}


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
        "kind": "LocalRun",
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
    """sha256 (hex) of the canonical identity; excludes compute, outputs cadence, paths and name."""
    return hashlib.sha256(canonical_json(run_identity(spec, digests)).encode()).hexdigest()


# --- layout ---------------------------------------------------------------------------------


def runs_root(root: Path) -> Path:
    return root / ".ftops" / "runs"


def run_dir(root: Path, name: str, key: str) -> Path:
    return runs_root(root) / name / key[:16]


def gradient_accumulation(spec: LocalRunSpec, world_size: int | None = None) -> int:
    """Effective batch = perDevice × gradAccum × world; `check_local_run` checks it divides."""
    hp = spec.hyperparameters
    world = world_size or spec.compute.num_processes
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
            "worldSize": spec.compute.num_processes,
            "perDeviceBatchSize": spec.hyperparameters.per_device_batch_size,
            "gradientAccumulation": gradient_accumulation(spec),
        },
    }


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalRunState:
    phase: Phase
    step: int | None = None
    max_steps: int | None = None
    loss: float | None = None
    pid: int | None = None
    last_checkpoint: int | None = None
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float | None:
        if self.step is None or not self.max_steps:
            return None
        return min(1.0, self.step / self.max_steps)

    def describe(self) -> str:
        """One line for `status` and `apply --wait`."""
        if self.phase == "succeeded":
            loss = self.outputs.get("metrics", {}).get("train_loss")
            return "succeeded" + (f" (train loss {loss:.4g})" if loss is not None else "")
        parts: list[str] = [self.phase]
        if self.step is not None:
            parts.append(f"step {self.step}/{self.max_steps or '?'}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


def lock_held(path: Path) -> bool:
    """True when a live process holds the run's flock (the kernel drops it when it dies)."""
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def acquire_lock(path: Path, *, info: dict[str, Any] | None = None) -> int | None:
    """Take the run's flock without blocking; returns the open fd, or None if someone holds it.

    The holder's pid and host are written into the file for people; liveness is the flock itself,
    so a `kill -9` releases it and pid reuse cannot fool it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    payload = {"pid": os.getpid(), "host": socket.gethostname(), **(info or {})}
    os.ftruncate(fd, 0)
    os.pwrite(fd, canonical_json(payload).encode(), 0)
    return fd


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(run: Path) -> list[tuple[int, Path, bool]]:
    """(step, path, complete) for every checkpoint directory, highest step first.

    Trainer writes `trainer_state.json` last, so a checkpoint is complete only when that file
    exists and parses.
    """
    found = []
    base = run / CHECKPOINTS
    if base.is_dir():
        for child in base.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                state = read_json(child / "trainer_state.json")
                found.append((int(match.group(1)), child, state is not None))
    return sorted(found, reverse=True)


def latest_complete_checkpoint(run: Path) -> Path | None:
    return next((path for _, path, complete in checkpoints(run) if complete), None)


def adapter_digests(adapter_dir: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(adapter_dir.iterdir()) if p.is_file()}


def _committed_outputs(run: Path, verify: bool) -> dict[str, Any] | None:
    outputs = read_json(run / OUTPUTS)
    if outputs is None:
        return None
    if verify:
        expected = outputs.get("adapter", {}).get("files", {})
        adapter = run / ADAPTER
        if not expected or not adapter.is_dir():
            return None
        actual = adapter_digests(adapter)
        if any(actual.get(name) != digest for name, digest in expected.items()):
            return None
    return outputs


def _last_results_row(run: Path) -> dict[str, str] | None:
    path = run / RESULTS
    if not path.exists():
        return None
    last = None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train_loss"):
                last = row
    return last


def read_run_state(run: Path, *, verify: bool = False) -> LocalRunState:
    """The phase of a run directory, and its progress (step, max_steps, last loss).

    `verify=True` re-hashes the adapter files against `outputs.json` (a corrupted or edited
    adapter then reads as partial, and is retrained).
    """
    if not (run / SPEC_LOCK).exists():
        return LocalRunState(phase="missing")
    outputs = _committed_outputs(run, verify)
    if outputs is not None:
        metrics = outputs.get("metrics", {})
        return LocalRunState(
            phase="succeeded",
            step=metrics.get("global_step"),
            max_steps=metrics.get("max_steps"),
            loss=metrics.get("train_loss"),
            outputs=outputs,
        )
    status = read_json(run / STATUS) or {}
    lock = read_json(run / LOCK) or {}
    step, loss = status.get("step"), status.get("loss")
    if step is None:
        row = _last_results_row(run)
        if row:
            step, loss = int(row["step"]), float(row["train_loss"])
    complete = latest_complete_checkpoint(run)
    common: dict[str, Any] = {
        "step": step,
        "max_steps": status.get("max_steps"),
        "loss": loss,
        "last_checkpoint": int(complete.name.split("-")[1]) if complete else None,
    }
    if lock_held(run / LOCK):
        return LocalRunState(phase="running", pid=lock.get("pid"), **common)
    if status.get("phase") == "failed":
        return LocalRunState(phase="failed", error=status.get("error"), **common)
    return LocalRunState(phase="partial", **common)


def plan_action(state: LocalRunState, *, retry_failed: bool = False) -> tuple[Action, str]:
    """Map a run's state to the planner's action and a plain-English reason."""
    match state.phase:
        case "succeeded":
            return "noop", "up to date: a committed run with this key exists"
        case "running":
            return "wait", f"training in progress ({state.describe()})"
        case "partial":
            at = state.last_checkpoint
            return "resume", (f"resume from checkpoint {at}" if at else "restart an unfinished run")
        case "failed" if retry_failed:
            return "resume", f"retry failed run ({state.error or 'unknown error'})"
        case "failed":
            return "failed", f"failed: {state.error or 'unknown error'} (use --retry-failed)"
        case _:
            return "train", "new"


def clean_partial_checkpoints(run: Path) -> list[Path]:
    """Delete checkpoints above the highest complete one (interrupted saves); returns them."""
    removed = []
    for _, path, complete in checkpoints(run):
        if complete:
            break
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


# --- plan-time checks -----------------------------------------------------------------------


def cuda_present() -> bool:
    """A cheap guess without torch: an NVIDIA driver is loaded on this host."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def check_local_run(
    spec: LocalRunSpec,
    *,
    location: Location | None = None,
    cuda_available: bool | None = None,
) -> list[Diagnostic]:
    """Plan-time diagnostics for a LocalRun that need no torch: placement, batch, precision."""
    out: list[Diagnostic] = []
    hp, compute = spec.hyperparameters, spec.compute
    cuda = cuda_present() if cuda_available is None else cuda_available
    on_cuda = compute.device == "cuda" or (compute.device == "auto" and cuda)
    if spec.adapter.type == "qlora" and not on_cuda:
        out.append(
            error(
                "LOCAL_QLORA_NEEDS_CUDA",
                "adapter.type qlora needs a CUDA GPU (bitsandbytes 4-bit kernels), "
                f"but compute.device is {compute.device!r}"
                + ("" if compute.device != "auto" else " and no NVIDIA driver was found"),
                location,
                "use adapter.type: lora on this machine, or run on a host with an NVIDIA GPU",
            )
        )
    if spec.adapter.quantization is not None and spec.adapter.type != "qlora":
        out.append(
            warning(
                "LOCAL_QUANTIZATION_IGNORED",
                "adapter.quantization is only used with adapter.type: qlora",
                location,
                "remove it, or set adapter.type: qlora",
            )
        )
    if hp.precision == "fp16" and not on_cuda:
        out.append(
            error(
                "LOCAL_FP16_NEEDS_CUDA",
                "precision fp16 (mixed precision with a grad scaler) needs a CUDA GPU",
                location,
                "use precision: fp32 or bf16 on CPU",
            )
        )
    per_step = hp.per_device_batch_size * compute.num_processes
    if hp.batch_size % per_step:
        out.append(
            error(
                "LOCAL_BATCH_NOT_DIVISIBLE",
                f"batchSize {hp.batch_size} is not a multiple of perDeviceBatchSize "
                f"{hp.per_device_batch_size} × numProcesses {compute.num_processes} = {per_step}",
                location,
                "the effective batch (part of the run's identity) must be "
                "perDeviceBatchSize × gradient accumulation × numProcesses; pick divisors",
            )
        )
    if compute.num_processes > 1 and compute.launcher == "python":
        out.append(
            error(
                "LOCAL_LAUNCHER_NEEDED",
                f"numProcesses {compute.num_processes} needs launcher accelerate or torchrun",
                location,
                "set compute.launcher: accelerate (or torchrun)",
            )
        )
    if hp.epochs is None and hp.max_steps is None:
        out.append(
            warning(
                "LOCAL_DEFAULT_EPOCHS",
                "neither hyperparameters.epochs nor maxSteps is set; training runs 1 epoch",
                location,
                "set epochs or maxSteps explicitly",
            )
        )
    if spec.method == "dpo" and spec.loss_on != "assistant":
        out.append(
            warning(
                "LOCAL_LOSS_ON_IGNORED",
                "lossOn applies to SFT only; DPO scores the preferred and non-preferred outputs",
                location,
            )
        )
    return out


__all__ = [
    "RECIPE_VERSION",
    "RESULTS_COLUMNS",
    "BaseDigests",
    "BasePaths",
    "LocalRunState",
    "RunDigests",
    "acquire_lock",
    "base_model_digests",
    "check_local_run",
    "compute_digests",
    "latest_complete_checkpoint",
    "plan_action",
    "read_run_state",
    "resolved_run_spec",
    "run_dir",
    "run_key",
]
