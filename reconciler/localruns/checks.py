"""Plan-time checks of a LocalRun that need no torch: placement, batch, precision."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.errors import Diagnostic, Location, error, warning
from reconciler.specs.models import LocalRunSpec


def cuda_present() -> bool:
    """A cheap guess without torch: an NVIDIA driver is loaded on this host."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def gpu_vm(instance_type: str) -> bool:
    """Azure's GPU VM sizes are the N-series: NC, ND, NV (Standard_NC24ads_A100_v4, ...)."""
    return instance_type.lower().startswith(("standard_nc", "standard_nd", "standard_nv"))


def check_local_run(
    spec: LocalRunSpec,
    *,
    location: Location | None = None,
    cuda_available: bool | None = None,
) -> list[Diagnostic]:
    """Plan-time diagnostics for a LocalRun that need no torch: placement, batch, precision."""
    cuda = cuda_present() if cuda_available is None else cuda_available
    device = spec.compute.device
    placed = spec.compute.azure_ml
    if placed is not None:  # the cluster's VMs, not this machine, have the GPUs (or not)
        cuda = gpu_vm(placed.instance_type)
        if device == "cuda" and not cuda:
            return [
                error(
                    "AML_NO_GPU",
                    f"compute.device is cuda, but {placed.instance_type} has no GPU",
                    location,
                    "place the run on an N-series cluster (e.g. Standard_NC24ads_A100_v4), or "
                    "set compute.device: cpu",
                )
            ]
    on_cuda = device == "cuda" or (device == "auto" and cuda)
    return [
        *_device_checks(spec, on_cuda, location),
        *_batch_checks(spec, location),
        *_default_checks(spec, location),
    ]


def _device_checks(
    spec: LocalRunSpec, on_cuda: bool, location: Location | None
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    device = spec.compute.device
    if spec.adapter.type == "qlora" and not on_cuda:
        out.append(
            error(
                "LOCAL_QLORA_NEEDS_CUDA",
                "adapter.type qlora needs a CUDA GPU (bitsandbytes 4-bit kernels), "
                f"but compute.device is {device!r}"
                + ("" if device != "auto" else " and no NVIDIA driver was found"),
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
    if spec.hyperparameters.precision == "fp16" and not on_cuda:
        out.append(
            error(
                "LOCAL_FP16_NEEDS_CUDA",
                "precision fp16 (mixed precision with a grad scaler) needs a CUDA GPU",
                location,
                "use precision: fp32 or bf16 on CPU",
            )
        )
    return out


def _batch_checks(spec: LocalRunSpec, location: Location | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    hp, compute = spec.hyperparameters, spec.compute
    per_step = hp.per_device_batch_size * compute.world_size
    processes = (
        f"instanceCount × processesPerInstance {compute.world_size}"
        if compute.azure_ml
        else f"numProcesses {compute.num_processes}"
    )
    if hp.batch_size % per_step:
        out.append(
            error(
                "LOCAL_BATCH_NOT_DIVISIBLE",
                f"batchSize {hp.batch_size} is not a multiple of perDeviceBatchSize "
                f"{hp.per_device_batch_size} × {processes} = {per_step}",
                location,
                "the effective batch (part of the run's identity) must be "
                "perDeviceBatchSize × gradient accumulation × numProcesses; pick divisors",
            )
        )
    if compute.num_processes > 1 and compute.launcher == "python" and not compute.azure_ml:
        out.append(
            error(
                "LOCAL_LAUNCHER_NEEDED",
                f"numProcesses {compute.num_processes} needs launcher accelerate or torchrun",
                location,
                "set compute.launcher: accelerate (or torchrun)",
            )
        )
    return out


def _default_checks(spec: LocalRunSpec, location: Location | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    hp = spec.hyperparameters
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
