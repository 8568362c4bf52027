"""Dataset validation benchmark (issue 4): one run reports every figure of benchmarks/README.md.

    python benchmarks/validate_bench.py                 # 500 MB file (the recorded figures)
    python benchmarks/validate_bench.py --size-mb 50    # quick check

It writes a deterministic chat JSONL into a temporary directory (sentences from a fixed
vocabulary, 1-3 turns, seed 4), then times, on the same warm file:

1. `sha256sum FILE` (the floor: reading and hashing every byte);
2. `validate --no-tokens FILE`, the whole command including interpreter start-up
   (`ftops validate` when the CLI accepts a .jsonl, else `python -m reconciler.datasets`);
3. `validate FILE` with token counting (o200k_base, cache off), whole command;
4. the OpenAI cookbook's method (validate_cookbook_baseline.py: load every line with json.loads
   into a list, the format checks, num_tokens_from_messages and
   num_assistant_tokens_from_messages, and the distributions);

and samples the peak resident memory of each command's whole process tree (workers included).
Targets: (2) >= 0.5 x sha256sum; (3) >= 3 x cookbook; peak RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

WORDS = (
    "the a travel hotel flight booking price city museum tour guide weather ticket train bus "
    "airport passport visa luggage room breakfast dinner restaurant beach mountain river lake "
    "question answer please thanks could would should recommend suggest explain compute number "
    "total average percent step first then finally because therefore however also about which "
    "Paris London Tokyo Seattle Madrid Rome Sydney Toronto Berlin Lisbon 12 42 7 2024 3.5 100"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 24))]
    return " ".join(words).capitalize() + rng.choice((".", "?", "!"))


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(1, 8)))


def example(rng: random.Random) -> dict[str, object]:
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You are a helpful travel assistant. " + sentence(rng)}
    ]
    for _ in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": paragraph(rng)})
        messages.append({"role": "assistant", "content": paragraph(rng)})
    return {"messages": messages}


def generate(path: Path, size_bytes: int, seed: int = 4) -> int:
    rng = random.Random(seed)
    written = lines = 0
    with open(path, "wb") as f:
        while written < size_bytes:
            batch = b"".join(orjson.dumps(example(rng)) + b"\n" for _ in range(1000))
            f.write(batch)
            written += len(batch)
            lines += 1000
    return lines


class TreeMemory:
    """Samples the summed RSS of a process and all its descendants (from /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, sum(rss(p) for p in tree(self.pid)))
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak


def tree(pid: int) -> list[int]:
    pids = [pid]
    for p in pids:
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return pids


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak tree RSS bytes, exit code) of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    memory = TreeMemory(process.pid)
    code = process.wait()
    elapsed = time.perf_counter() - start
    return elapsed, memory.stop(), code


def validate_commands(path: Path, no_tokens: bool) -> dict[str, list[str]]:
    """The standalone entry point, and `ftops validate` when the CLI takes a .jsonl path."""
    flags = ["--no-tokens"] if no_tokens else []
    model = ["--base-model", "gpt-4o-mini"]
    commands = {
        "python -m reconciler.datasets": [
            sys.executable,
            "-m",
            "reconciler.datasets",
            *flags,
            *model,
            str(path),
        ]
    }
    ftops = shutil.which("ftops")
    if ftops and cli_validates_jsonl(ftops):
        commands["ftops validate"] = [ftops, "validate", *flags, str(path)]
    return commands


def cli_validates_jsonl(ftops: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.jsonl"
        probe.write_bytes(b'{"messages": [{"role": "user", "content": "x"}]}\n')
        done = subprocess.run(
            [ftops, "validate", "--no-tokens", str(probe)], capture_output=True, text=True
        )
        return "FILE_TOO_FEW_EXAMPLES" in done.stdout + done.stderr


def best_of(command: list[str], repeat: int) -> tuple[float, int, int]:
    """The fastest of `repeat` runs (the machine may be shared), with the largest peak RSS."""
    runs = [timed(command) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), max(r[2] for r in runs)


def cookbook_command(path: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).with_name("validate_cookbook_baseline.py")),
        str(path),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=500.0, help="file size in MB (10^6 B)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best counts")
    parser.add_argument("--skip-cookbook", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        path = Path(tmp) / "chat.jsonl"
        started = time.perf_counter()
        lines = generate(path, int(args.size_mb * 1e6))
        mb = path.stat().st_size / 1e6
        took = time.perf_counter() - started
        print(f"file: {mb:.1f} MB, {lines:,} chat examples (generated in {took:.1f} s)")
        print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f}")
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm cache

        sha, _, _ = best_of(["sha256sum", str(path)], args.repeat)
        print(f"{'sha256sum':40s} {sha:6.2f} s {mb / sha:7.1f} MB/s")
        peak = 0
        for name, command in validate_commands(path, no_tokens=True).items():
            took, rss, code = best_of(command, args.repeat)
            peak = max(peak, rss)
            print(
                f"{name + ' --no-tokens':40s} {took:6.2f} s {mb / took:7.1f} MB/s"
                f"  ratio to sha256sum {sha / took:.2f} (target >= 0.5)"
                f"  peak RSS {rss / 1e6:.0f} MB  exit {code}"
            )
        tokens_took = 0.0
        for name, command in validate_commands(path, no_tokens=False).items():
            took, rss, code = best_of(command, 1)
            peak = max(peak, rss)
            tokens_took = tokens_took or took
            print(
                f"{name + ' (tokens, o200k)':40s} {took:6.2f} s {mb / took:7.1f} MB/s"
                f"  peak RSS {rss / 1e6:.0f} MB  exit {code}"
            )
        if not args.skip_cookbook:
            baseline, rss, code = best_of(cookbook_command(path), 1)
            print(
                f"{'cookbook method (o200k)':40s} {baseline:6.2f} s {mb / baseline:7.1f} MB/s"
                f"  peak RSS {rss / 1e6:.0f} MB  exit {code}"
            )
            print(f"token counting: {baseline / tokens_took:.2f} x the cookbook (target >= 3)")
        print(f"peak RSS of validate: {peak / 1e6:.0f} MB (target < 250 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
