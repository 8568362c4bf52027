"""One training run, from `spec.lock.json` to `outputs.json` (research/local-runs.md §3.3).

Resumes from the highest complete checkpoint, writes `results.csv` and `status.json` as it goes,
writes the adapter to `adapter.tmp/` and renames it, and writes `outputs.json` last.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from reconciler import localruns as lr
from reconciler.fileio import read_json, write_json_atomic
from reconciler.training import callbacks as cb
from reconciler.training.encode import dpo_rows, sft_rows
from reconciler.training.model import (
    dequantised_gguf_dir,
    load_model,
    load_tokenizer,
    lora_config,
)

ENGINES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "tokenizers")


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _on_cuda(spec: dict) -> bool:
    device = spec["compute"]["device"]
    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def _engine_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ENGINES}


class FullValidMixin:
    """Evaluate the whole validation file too when `FullValidSchedule` says it is due."""

    ftops_full_valid: Any = None
    ftops_schedule: cb.FullValidSchedule | None = None
    ftops_sampled_step = -1

    def _evaluate(self, trial, ignore_keys_for_eval, skip_scheduler=False):
        step = self.state.global_step
        metrics = {}
        if step != self.ftops_sampled_step:  # not twice at one step (eval cadence + epoch end)
            self.ftops_sampled_step = step
            metrics = super()._evaluate(trial, ignore_keys_for_eval, skip_scheduler)
        schedule = self.ftops_schedule
        if schedule is not None and schedule.full_due and self.ftops_full_valid is not None:
            schedule.full_due = False
            metrics.update(
                self.evaluate(
                    self.ftops_full_valid,
                    ignore_keys=ignore_keys_for_eval,
                    metric_key_prefix="eval_full_valid",
                )
            )
        return metrics


def _datasets(lock: dict, tokenizer: Any) -> tuple[Dataset, Dataset | None, Dataset | None, dict]:
    spec, paths = lock["spec"], lock["paths"]
    hp = spec["hyperparameters"]
    info: dict[str, Any] = {}
    if spec["method"] == "dpo":

        def load(path: str) -> list[dict]:
            return dpo_rows(path)
    else:

        def load(path: str) -> list[dict]:
            rows, dropped = sft_rows(
                tokenizer, path, loss_on=spec["lossOn"], max_length=hp["maxSeqLen"]
            )
            info.setdefault("dropped_rows", {})[Path(path).name] = dropped
            return rows

    train = load(paths["training"])
    info["train_rows"] = len(train)
    if not paths["validation"]:
        return Dataset.from_list(train), None, None, info
    full = load(paths["validation"])
    # A fixed, seeded sample of one effective batch for the frequent `valid_*` columns.
    sample = random.Random(hp["seed"]).sample(full, min(hp["batchSize"], len(full)))
    return Dataset.from_list(train), Dataset.from_list(sample), Dataset.from_list(full), info


def _common_args(lock: dict, run_dir: Path, has_valid: bool) -> dict[str, Any]:
    spec = lock["spec"]
    hp, outputs = spec["hyperparameters"], spec["outputs"]
    _, world = _world()
    accumulation = max(1, hp["batchSize"] // (hp["perDeviceBatchSize"] * world))
    on_cuda = _on_cuda(spec)
    keep = outputs["keepCheckpoints"]
    args: dict[str, Any] = {
        "output_dir": str(run_dir / lr.CHECKPOINTS),
        "per_device_train_batch_size": hp["perDeviceBatchSize"],
        "per_device_eval_batch_size": hp["perDeviceBatchSize"],
        "gradient_accumulation_steps": accumulation,
        "learning_rate": hp["learningRate"],
        "lr_scheduler_type": hp["lrScheduler"],
        "warmup_steps": hp["warmupFraction"],
        "num_train_epochs": hp["epochs"] or 1.0,
        "max_steps": hp["maxSteps"] or -1,
        "max_length": hp["maxSeqLen"],
        "seed": hp["seed"],
        "data_seed": hp["seed"],
        "bf16": hp["precision"] == "bf16",
        "fp16": hp["precision"] == "fp16",
        "use_cpu": not on_cuda,
        "activation_checkpointing": hp["gradientCheckpointing"],
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": outputs["saveEverySteps"],
        "save_total_limit": 1 if keep in ("last", "none") else None,
        "eval_strategy": "steps" if has_valid else "no",
        "eval_steps": outputs["evalEverySteps"] if has_valid else None,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "include_num_input_tokens_seen": "non_padding",
    }
    if spec["adapter"]["type"] == "qlora":
        args["optim"] = "paged_adamw_32bit"
    return args


def _trainer(lock: dict, run_dir: Path, model: Any, tokenizer: Any, data: tuple) -> Any:
    spec = lock["spec"]
    train, sample, full, _ = data
    common = _common_args(lock, run_dir, sample is not None)
    base_cls: type[Any]
    config: Any
    if spec["method"] == "dpo":
        from trl import DPOConfig, DPOTrainer

        base_cls, config = DPOTrainer, DPOConfig(beta=spec["hyperparameters"]["beta"], **common)
    else:
        from trl import SFTConfig, SFTTrainer

        base_cls = SFTTrainer
        config = SFTConfig(packing=spec["hyperparameters"]["packing"], **common)
    trainer_cls = type(f"Ftops{base_cls.__name__}", (FullValidMixin, base_cls), {})
    trainer = trainer_cls(
        model=model,
        args=config,
        train_dataset=train,
        eval_dataset=sample,
        processing_class=tokenizer,
        peft_config=lora_config(spec),
    )
    if full is not None:
        trainer.ftops_full_valid = full
        trainer.ftops_schedule = cb.FullValidSchedule()
        trainer.add_callback(trainer.ftops_schedule)
    return trainer


def _base_dir(lock: dict) -> Path:
    paths = lock["paths"]
    model_dir = Path(paths["baseModelDir"])
    if paths["ggufFile"]:
        digest = lock["digests"]["base"]["weights"]
        return dequantised_gguf_dir(model_dir, paths["ggufFile"], digest, Path(paths["cacheDir"]))
    return model_dir


def _write_adapter(trainer: Any, tokenizer: Any, lock: dict, run_dir: Path) -> dict[str, str]:
    tmp, final = run_dir / "adapter.tmp", run_dir / lr.ADAPTER
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    config_path = tmp / "adapter_config.json"
    config = json.loads(config_path.read_text())
    # A logical reference instead of this machine's absolute path; the digest is in outputs.json.
    config["base_model_name_or_path"] = lock["spec"]["baseModel"]["path"]
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return lr.adapter_digests(final)


def _final_metrics(trainer: Any, result: Any, started_tokens: int, elapsed: float) -> dict:
    state = trainer.state
    train_logs = [e for e in state.log_history if "loss" in e]
    last = train_logs[-1] if train_logs else {}
    full = [e for e in state.log_history if "eval_full_valid_loss" in e]
    tokens = int(state.num_input_tokens_seen)
    this_attempt = tokens - started_tokens
    return {
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "epoch": state.epoch,
        "train_loss": last.get("loss"),
        "train_mean_token_accuracy": last.get("mean_token_accuracy"),
        "train_loss_mean": result.training_loss,
        "full_valid_loss": full[-1]["eval_full_valid_loss"] if full else None,
        "train_tokens": tokens,
        "attempt_tokens": this_attempt,
        "attempt_train_runtime_s": elapsed,
        "tokens_per_s": this_attempt / elapsed if elapsed > 0 else None,
        "tokens_counted": "non-padding input tokens (trainer num_input_tokens_seen)",
    }


def train(run_dir: Path, lock: dict, status: cb.StatusJson) -> dict:
    spec = lock["spec"]
    rank, world = _world()
    threads = os.environ.get("FTOPS_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    resume = lr.latest_complete_checkpoint(run_dir)
    if rank == 0:
        lr.clean_partial_checkpoints(run_dir)
        if resume is None:
            (run_dir / lr.RESULTS).unlink(missing_ok=True)
        else:
            cb.truncate_results(run_dir / lr.RESULTS, int(resume.name.split("-")[1]))
    base_dir = _base_dir(lock)
    tokenizer = load_tokenizer(base_dir, lock["paths"]["chatTemplateFile"])
    model = load_model(base_dir, spec, on_cuda=_on_cuda(spec))
    data = _datasets(lock, tokenizer)
    trainer = _trainer(lock, run_dir, model, tokenizer, data)
    trainer.add_callback(cb.ResultsCsv(run_dir / lr.RESULTS))
    trainer.add_callback(status)
    delay = float(os.environ.get("FTOPS_TRAINING_STEP_DELAY_S", "0") or 0)
    if delay:
        trainer.add_callback(cb.StepDelay(delay))
    started_tokens = 0
    if resume is not None:
        started_tokens = int(
            json.loads((resume / "trainer_state.json").read_text()).get("num_input_tokens_seen", 0)
        )
    started, started_cpu = time.perf_counter(), time.process_time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    if not trainer.is_world_process_zero():
        return {}
    metrics = _final_metrics(trainer, result, started_tokens, elapsed)
    metrics["attempt_train_cpu_s"] = cpu
    files = _write_adapter(trainer, tokenizer, lock, run_dir)
    if spec["outputs"]["keepCheckpoints"] == "none":
        shutil.rmtree(run_dir / lr.CHECKPOINTS, ignore_errors=True)
    outputs = {
        "apiVersion": "ftops/v1",
        "name": lock["name"],
        "key": lock["key"],
        "recipe": lock["recipe"],
        "adapter": {"path": lr.ADAPTER, "files": files},
        "metrics": metrics,
        "data": data[3],
        "resumedFrom": resume.name if resume else None,
        "engines": _engine_versions(),
        "device": {
            "type": "cuda" if _on_cuda(spec) else "cpu",
            "name": torch.cuda.get_device_name()
            if _on_cuda(spec)
            else (platform.processor() or platform.machine()),
            "worldSize": world,
            "torchThreads": torch.get_num_threads(),
        },
        "finished": time.time(),
    }
    write_json_atomic(run_dir / lr.OUTPUTS, outputs)  # the commit marker: last
    status.write(phase="succeeded", step=metrics["global_step"], loss=metrics["train_loss"])
    return outputs


def main(run_dir: Path) -> int:
    lock = json.loads((run_dir / lr.SPEC_LOCK).read_text())
    rank, _ = _world()
    previous = read_json(run_dir / lr.STATUS) or {}
    status = cb.StatusJson(
        run_dir, {"pid": os.getpid(), "attempt": int(previous.get("attempt", 0)) + 1}
    )
    if rank == 0:
        status.write(phase="running", error=None)
    try:
        train(run_dir, lock, status)
    except BaseException as exc:
        traceback.print_exc()
        if rank == 0:
            status.write(phase="failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        sys.stdout.flush()
    return 0
