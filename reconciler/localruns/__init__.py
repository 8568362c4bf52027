"""Local runs without torch: the run key, the run-directory layout, and reading a run's state.

A `LocalRun` is identified by a content key (research/local-runs.md §3.2): the digest of a
canonical JSON of everything that changes the adapter's weights (`keys`). Its work lives in a
content-addressed run directory, `{root}/.ftops/runs/{name}/{key[:16]}/`, and `outputs.json`,
written last, is the commit marker (`layout`).

The planner (`reconciler.planning.local`) maps `read_run_state(...).phase` to a change: succeeded →
nothing, partial → resume, missing → train, running → wait, failed → train again only when asked.
Nothing here imports torch; `check_local_run` gives the plan-time diagnostics (`checks`).
"""

from __future__ import annotations

from .checks import check_local_run, cuda_present
from .keys import (
    RECIPE_VERSION,
    BaseDigests,
    BasePaths,
    RunDigests,
    base_model_digests,
    canonical_json,
    compute_digests,
    gradient_accumulation,
    resolve_base_paths,
    resolved_run_spec,
    run_identity,
    run_key,
)
from .layout import (
    ADAPTER,
    CHECKPOINTS,
    LOCK,
    OUTPUTS,
    RESULTS,
    RESULTS_COLUMNS,
    SPEC_LOCK,
    STATUS,
    TRAIN_LOG,
    LocalRunState,
    Phase,
    acquire_lock,
    adapter_digests,
    checkpoints,
    clean_partial_checkpoints,
    latest_complete_checkpoint,
    lock_held,
    read_run_state,
    run_dir,
    runs_root,
)

__all__ = [
    "ADAPTER",
    "CHECKPOINTS",
    "LOCK",
    "OUTPUTS",
    "RECIPE_VERSION",
    "RESULTS",
    "RESULTS_COLUMNS",
    "SPEC_LOCK",
    "STATUS",
    "TRAIN_LOG",
    "BaseDigests",
    "BasePaths",
    "LocalRunState",
    "Phase",
    "RunDigests",
    "acquire_lock",
    "adapter_digests",
    "base_model_digests",
    "canonical_json",
    "check_local_run",
    "checkpoints",
    "clean_partial_checkpoints",
    "compute_digests",
    "cuda_present",
    "gradient_accumulation",
    "latest_complete_checkpoint",
    "lock_held",
    "read_run_state",
    "resolve_base_paths",
    "resolved_run_spec",
    "run_dir",
    "run_identity",
    "run_key",
    "runs_root",
]
