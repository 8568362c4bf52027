"""Plan and apply of large fleets against the emulator (issue 12): one run prints every ratio.

    python benchmarks/fleet_bench.py                  # the recorded figures (~3 min)
    python benchmarks/fleet_bench.py --quick          # a smaller fleet, to check the script

It generates the fleets with benchmarks/fleet.py in a temporary directory and runs the emulator
as its own process (as `ftops emulator` runs for a team), then measures:

1. **Plan of a converged fleet** (20 accounts, 100 datasets, 100 fine-tunes, 1,000 deployments,
   applied to convergence first): the wall time of `ftops plan --emulator` over the wall time of
   the bare import of the CLI and the SDK modules it talks through (`import reconciler.cli,
   openai, azure.mgmt.cognitiveservices`), best of three each. Target <= 2.
2. **API calls per declared resource** in that plan, from the emulator's request counts. Target
   <= 0.05. The emulator pages ARM lists at 100 items (`--arm-page-size`).
3. **Apply across accounts**: 100 new deployments over 10 accounts with 100 ms added to every
   call (`--faults latency_ms=100`): ten one-account applies, one after another, over one apply
   of all ten accounts. Target >= 8 (10 is the limit).

Each figure is a ratio of two measurements taken in this run, on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import Fleet, write
from installed import ftops_script

IMPORTS = "import reconciler.cli, openai, azure.mgmt.cognitiveservices"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator(state: Path, *, faults: str | None = None) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "reconciler.emulator", "--port", str(port)]
    command += ["--state", str(state), "--time-scale", "5000"]
    command += ["--faults", faults] if faults else []
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_emulator/stats", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as reply:
        return dict(json.loads(reply.read())["operations"])


def ftops(url: str, *args: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "FTOPS_EMULATOR_URL": url}
    command = [ftops_script() or "ftops", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return took, done


def best(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def import_time() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return time.perf_counter() - started


def plan_row(tmp: Path, fleet: Fleet, repeat: int) -> None:
    specs = tmp / "fleet"
    write(fleet, specs)
    with emulator(tmp / "fleet.sqlite") as url:
        took, _ = ftops(url, "apply", ".", "--emulator", "--yes", "--wait", cwd=specs)
        print(f"fleet: {fleet.resources:,} resources, applied to convergence in {took:.1f} s")
        before = stats(url)
        plans = []
        for _ in range(repeat):
            took, done = ftops(url, "plan", ".", "--emulator", cwd=specs)
            assert "No changes" in done.stdout, done.stdout[-2000:]
            plans.append(took)
        after = stats(url)
    calls = {k: (after[k] - before.get(k, 0)) // repeat for k in after}
    calls = {k: v for k, v in calls.items() if v}
    baseline = best(repeat, import_time)
    plan = min(plans)
    print(f"import baseline ({IMPORTS}): {baseline:.2f} s (best of {repeat})")
    print(f"plan of the converged fleet: {plan:.2f} s (best of {repeat})")
    print(f"plan / import: {plan / baseline:.2f} (target <= 2)")
    total = sum(calls.values())
    azure = total - calls.get("Accounts_ListByResourceGroup", 0)  # the emulator's bootstrap
    print(f"calls of one plan: {total} {json.dumps(calls, sort_keys=True)}")
    print(
        f"calls per declared resource: {total / fleet.resources:.3f}"
        f" ({azure / fleet.resources:.3f} without the emulator's account bootstrap; target <= 0.05)"
    )


def apply_row(tmp: Path, accounts: int, per_account: int, latency_ms: int) -> None:
    faults = f"latency_ms={latency_ms}"
    together = Fleet(accounts, 0, accounts * per_account, "together", fine_tunes=False)
    write(together, tmp / "together")
    with emulator(tmp / "together.sqlite", faults=faults) as url:
        one, _ = ftops(url, "apply", ".", "--emulator", "--yes", "--wait", cwd=tmp / "together")
        made = stats(url).get("Deployments_CreateOrUpdate", 0)
    assert made == accounts * per_account, made
    singles = 0.0
    with emulator(tmp / "singles.sqlite", faults=faults) as url:
        for i in range(accounts):
            solo = Fleet(1, 0, per_account, f"solo-{i:02d}", fine_tunes=False)
            write(solo, tmp / solo.project)
            folder = tmp / solo.project
            took, _ = ftops(url, "apply", ".", "--emulator", "--yes", "--wait", cwd=folder)
            singles += took
        made = stats(url).get("Deployments_CreateOrUpdate", 0)
    assert made == accounts * per_account, made
    print(
        f"apply of {accounts * per_account} deployments over {accounts} accounts, "
        f"{latency_ms} ms a call: {accounts} one-account applies {singles:.2f} s, "
        f"one apply {one:.2f} s"
    )
    print(f"apply parallelism: {singles / one:.2f} x (target >= 8, limit {accounts})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 accounts, 20 fine-tunes, 200")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # Cache bytecode as an installed ftops does: a PYTHONDONTWRITEBYTECODE=1 environment (this
    # sandbox sets it) recompiles every ftops module at each start, which no user's machine does.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    fleet = Fleet(5, 20, 200) if args.quick else Fleet()
    print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ftops-fleet-") as tmp:
        plan_row(Path(tmp), fleet, args.repeat)
        apply_row(Path(tmp), 10, 10, 100)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
