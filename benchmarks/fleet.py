"""A generated fleet of specs for the plan and apply benchmarks (fleet_bench.py).

    python benchmarks/fleet.py OUT_DIR --accounts 20 --datasets 100 --deployments 1000

writes OUT_DIR/ftops.yaml and OUT_DIR/data/*.jsonl: one project over ACCOUNTS accounts, DATASETS
datasets (a small chat JSONL each, different content), one FineTune per dataset (round-robin
over the accounts), and DEPLOYMENTS deployments spread evenly over the accounts: each fine-tune
deployed once, the rest base-model deployments. Deterministic: the same arguments give the
same bytes, so job keys and file names repeat between runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

BASE = {"base": "gpt-4o-mini", "version": "2024-07-18"}
FINE_TUNE_BASE = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True)
class Fleet:
    accounts: int = 20
    datasets: int = 100
    deployments: int = 1000
    project: str = "fleet"
    resource_group: str = "ftops-fleet"
    fine_tunes: bool = True  # False: datasets and fine-tunes left out (deployments only)

    @property
    def resources(self) -> int:
        trained = 2 * self.datasets if self.fine_tunes else 0
        return self.accounts + trained + self.deployments


def write(fleet: Fleet, out: Path) -> Path:
    """The fleet's specs under `out`; returns the spec file."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    documents = [project(fleet)]
    documents += [account(fleet, a) for a in range(fleet.accounts)]
    if fleet.fine_tunes:
        for d in range(fleet.datasets):
            (out / "data" / f"set-{d:03d}.jsonl").write_text(examples(d))
            documents += [dataset(d), fine_tune(fleet, d)]
    documents += deployments(fleet)
    spec = out / "ftops.yaml"
    spec.write_text("---\n".join(documents))
    return spec


def project(fleet: Fleet) -> str:
    return (
        f"apiVersion: ftops/v1\nkind: Project\nmetadata: {{name: {fleet.project}}}\n"
        "spec:\n  policy:\n    maxDeletes: 2000\n"
        "    budget: {maxTrainingCostUsd: 100000}\n"
    )


def account(fleet: Fleet, a: int) -> str:
    return (
        f"apiVersion: ftops/v1\nkind: Account\nmetadata: {{name: acct-{a:02d}}}\nspec:\n"
        "  subscription: 00000000-0000-0000-0000-000000000000\n"
        f"  resourceGroup: {fleet.resource_group}\n"
        f"  accountName: {fleet.project}-acct-{a:02d}\n  region: eastus2\n  auth: entra\n"
    )


def dataset(d: int) -> str:
    return (
        f"apiVersion: ftops/v1\nkind: Dataset\nmetadata: {{name: set-{d:03d}}}\n"
        f"spec: {{path: data/set-{d:03d}.jsonl}}\n"
    )


def fine_tune(fleet: Fleet, d: int) -> str:
    return (
        f"apiVersion: ftops/v1\nkind: FineTune\nmetadata: {{name: tune-{d:03d}}}\nspec:\n"
        f"  account: acct-{d % fleet.accounts:02d}\n  baseModel: {FINE_TUNE_BASE}\n"
        f"  trainingData: set-{d:03d}\n"
        "  method: {type: supervised, hyperparameters: {epochs: 1}}\n  seed: 1\n"
    )


def deployments(fleet: Fleet) -> list[str]:
    """Each fine-tune once, in its account; then base-model deployments, evenly spread."""
    found = []
    tuned = fleet.datasets if fleet.fine_tunes else 0
    for i in range(fleet.deployments):
        a = i % fleet.accounts
        if i < tuned:
            model = f"{{fineTune: tune-{i:03d}}}"
        else:
            model = f'{{base: {BASE["base"]}, version: "{BASE["version"]}"}}'
        found.append(
            f"apiVersion: ftops/v1\nkind: Deployment\nmetadata: {{name: dep-{i:04d}}}\nspec:\n"
            f"  account: acct-{a:02d}\n  model: {model}\n"
            "  sku: {name: Standard, capacity: 1}\n"
        )
    return found


def examples(seed: int, count: int = 10) -> str:
    lines = []
    for i in range(count):
        question = f"Question {i} of set {seed}: what is {seed} plus {i}?"
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "You add numbers."},
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": f"{seed + i}."},
                    ]
                }
            )
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--deployments", type=int, default=1000)
    args = parser.parse_args()
    fleet = Fleet(args.accounts, args.datasets, args.deployments)
    spec = write(fleet, args.out)
    print(f"{spec}: {fleet.resources} resources")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
