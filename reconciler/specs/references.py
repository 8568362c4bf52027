"""Cross-document checks: one Project, unique names, references that resolve, no chain cycles."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable

from reconciler.errors import Diagnostic, error
from reconciler.specs.loading import Document
from reconciler.specs.models import (
    ENDPOINT_NAME,
    RUN_KINDS,
    DeploymentSpec,
    FineTunedModelRef,
    FineTuneRef,
    FineTuneSpec,
    LocalRunSpec,
)

_RUN_REFERENCES = (
    (("trainingData",), "Dataset"),
    (("validationData",), "Dataset"),
    (("compute", "azureML", "workspace"), "MLWorkspace"),
)
# (kind, field path) → the kind the field refers to.
REFERENCES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "FineTune": (
        (("account",), "Account"),
        (("workspace",), "MLWorkspace"),
        (("trainingData",), "Dataset"),
        (("validationData",), "Dataset"),
        (("baseModel", "fineTune"), "FineTune"),
    ),
    "Deployment": (
        (("account",), "Account"),
        (("workspace",), "MLWorkspace"),
        (("model", "fineTune"), "FineTune"),
        (("model", "trainingRun"), "TrainingRun"),
    ),
    "LocalRun": _RUN_REFERENCES,
    "TrainingRun": _RUN_REFERENCES,
}


def check_references(documents: list[Document]) -> list[Diagnostic]:
    problems = _check_project(documents) + _check_unique(documents)
    names = {(d.kind, d.name) for d in documents}
    names |= {("TrainingRun", d.name) for d in documents if d.kind in RUN_KINDS}
    for doc in documents:
        problems.extend(_dangling(doc, names))
    problems.extend(_chain_cycles(documents))
    problems.extend(_chains_across_accounts(documents))
    problems.extend(_served_where_trained(documents))
    problems.extend(_adapters_served_where_trained(documents))
    problems.extend(_endpoint_names(documents))
    problems.extend(_workspaces_named_like_accounts(documents))
    problems.extend(_checkpoint_epochs(documents))
    return problems


def _served_where_trained(documents: list[Document]) -> list[Diagnostic]:
    """A model fine-tuned in a workspace is served by that workspace's serverless endpoints, and
    only there; a workspace serves no model trained elsewhere."""
    trained = {d.name: target_of(d.raw) for d in documents if d.kind == "FineTune"}
    declared = {(d.kind, d.name) for d in documents}
    problems = []
    for doc in documents:
        model = doc.raw.get("model") if doc.kind == "Deployment" else None
        upstream = str(model.get("fineTune", "")) if isinstance(model, dict) else ""
        source, target = trained.get(upstream), target_of(doc.raw)
        if source is None or "MLWorkspace" not in (source[0], target[0]):
            continue  # Azure OpenAI to Azure OpenAI: a copy across accounts, when they differ
        if not {source, target} <= declared:
            continue  # an unknown account or workspace is reported as such
        if source != target:
            problems.append(
                error(
                    "SPEC_SERVED_ELSEWHERE",
                    f"Deployment {doc.name!r} serves fine-tune {upstream!r} outside "
                    "the place it trains in",
                    doc.at("workspace") if "workspace" in doc.raw else doc.at("account"),
                    "a model fine-tuned in an ML workspace is served by a Deployment with the "
                    "same workspace (a serverless endpoint); one trained in an account is "
                    "deployed to accounts",
                )
            )
    return problems


def _adapters_served_where_trained(documents: list[Document]) -> list[Diagnostic]:
    """A managed online endpoint serves an adapter from its workspace's datastore: the run is
    placed on a cluster of that workspace."""
    placed = {
        d.name: _get(d.raw, ("compute", "azureML", "workspace"))
        for d in documents
        if d.kind in RUN_KINDS
    }
    problems = []
    for doc in documents:
        run = _get(doc.raw, ("model", "trainingRun")) if doc.kind == "Deployment" else None
        if not isinstance(run, str) or run not in placed:
            continue  # none, or an unknown run: reported as such
        workspace = doc.raw.get("workspace")
        if placed[run] != workspace:
            where = f"on {placed[run]!r}" if placed[run] else "on this machine"
            problems.append(
                error(
                    "SPEC_SERVED_ELSEWHERE",
                    f"Deployment {doc.name!r} serves training run {run!r} from workspace "
                    f"{workspace!r}, but the run is placed {where}",
                    doc.at("model", "trainingRun"),
                    f"place the run on a cluster of {workspace!r} (compute.azureML.workspace): "
                    "its endpoint serves the adapter from that workspace's datastore",
                )
            )
    return problems


def _endpoint_names(documents: list[Document]) -> list[Diagnostic]:
    """A Deployment of a TrainingRun is an online endpoint: its name is one Azure ML takes."""
    problems = []
    for doc in documents:
        if doc.kind != "Deployment" or not _get(doc.raw, ("model", "trainingRun")):
            continue
        name = str(doc.raw.get("deploymentName") or doc.name)
        if not ENDPOINT_NAME.match(name):
            problems.append(
                error(
                    "SPEC_ENDPOINT_NAME",
                    f"Deployment {doc.name!r}: {name!r} is not a name Azure ML gives an online "
                    "endpoint",
                    doc.at("deploymentName") if "deploymentName" in doc.raw else doc.location,
                    "3 to 32 letters, digits and '-', starting with a letter: set deploymentName",
                )
            )
    return problems


def _workspaces_named_like_accounts(documents: list[Document]) -> list[Diagnostic]:
    """Plans address resources by `kind/account-or-workspace/name`: one namespace for both."""
    accounts = {d.name for d in documents if d.kind == "Account"}
    used = {d.raw.get("workspace") for d in documents if d.kind in ("FineTune", "Deployment")}
    return [
        error(
            "SPEC_DUPLICATE_NAME",
            f"MLWorkspace {d.name!r} has the name of an Account, and FineTunes or Deployments "
            "use it",
            d.location,
            "give the MLWorkspace a name no Account has: plans name both in one place",
        )
        for d in documents
        if d.kind == "MLWorkspace" and d.name in accounts and d.name in used
    ]


KEPT_CHECKPOINTS = 3  # Azure keeps a checkpoint for each of the last three epochs


def _checkpoint_epochs(documents: list[Document]) -> list[Diagnostic]:
    """A checkpoint deployment names an epoch the job will have a checkpoint for (valid
    documents only: an invalid one has already been reported)."""
    epochs = {
        d.name: d.spec.method.hyperparameters.epochs
        for d in documents
        if isinstance(d.spec, FineTuneSpec)
    }
    problems = []
    for doc in documents:
        model = doc.spec.model if isinstance(doc.spec, DeploymentSpec) else None
        if not isinstance(model, FineTunedModelRef) or model.checkpoint is None:
            continue
        epoch, total = model.checkpoint.epoch, epochs.get(model.fine_tune)
        if not isinstance(total, int):
            continue
        if epoch > total or epoch <= total - KEPT_CHECKPOINTS:
            first = max(1, total - KEPT_CHECKPOINTS + 1)
            problems.append(
                error(
                    "SPEC_CHECKPOINT_EPOCH",
                    f"Deployment {doc.name!r}: the fine-tune trains {total} epochs and keeps "
                    f"checkpoints of epochs {first}-{total}; epoch {epoch} will not exist",
                    doc.at("model", "checkpoint", "epoch"),
                    f"choose an epoch from {first} to {total}",
                )
            )
    return problems


def _chains_across_accounts(documents: list[Document]) -> list[Diagnostic]:
    """Continuous fine-tuning starts from a model in the same account."""
    fine_tunes = {d.name: d for d in documents if d.kind == "FineTune"}
    problems = []
    for doc in fine_tunes.values():
        upstream = fine_tunes.get(next(iter(_raw_upstreams(doc)), ""))
        if upstream and target_of(upstream.raw) != target_of(doc.raw):
            problems.append(
                error(
                    "SPEC_CHAIN_ACROSS_ACCOUNTS",
                    f"FineTune {doc.name!r} continues {upstream.name!r}"
                    f", which trains in another account",
                    doc.at("account"),
                    "train every step of a chain in one account; deploy the result anywhere",
                )
            )
    return problems


def target_of(raw: dict[str, object]) -> tuple[str, str]:
    """Where a FineTune trains or a Deployment serves, as (kind, name): its Account or its
    MLWorkspace."""
    if raw.get("account"):
        return ("Account", str(raw["account"]))
    return ("MLWorkspace", str(raw.get("workspace")))


def _check_project(documents: list[Document]) -> list[Diagnostic]:
    projects = [d for d in documents if d.kind == "Project"]
    if len(projects) == 1:
        return []
    if not projects:
        where = documents[0].location if documents else None
        return [
            error(
                "SPEC_NO_PROJECT",
                "no Project document found",
                where,
                "add one 'kind: Project' document: its name is written into every "
                "resource ftops creates",
            )
        ]
    return [
        error(
            "SPEC_MANY_PROJECTS",
            f"{len(projects)} Project documents; one is allowed",
            p.location,
            "keep one Project per repository",
        )
        for p in projects[1:]
    ]


def _check_unique(documents: list[Document]) -> list[Diagnostic]:
    seen: dict[tuple[str, str], Document] = {}
    problems = []
    for doc in documents:
        # A TrainingRun and a LocalRun (its old name) share one run directory per name.
        kind = "TrainingRun" if doc.kind in RUN_KINDS else doc.kind
        first = seen.setdefault((kind, doc.name), doc)
        if first is not doc:
            problems.append(
                error(
                    "SPEC_DUPLICATE_NAME",
                    f"{doc.kind} {doc.name!r} is declared twice (first at {first.location})",
                    doc.location,
                    "give each document of a kind its own metadata.name",
                )
            )
    return problems


def _dangling(doc: Document, names: set[tuple[str, str]]) -> Iterable[Diagnostic]:
    raw = doc.raw
    for path, target in REFERENCES.get(doc.kind, ()):
        value = _get(raw, path)
        if isinstance(value, str) and (target, value) not in names:
            candidates = sorted(n for k, n in names if k == target)
            hint = (
                f"declared {target} names: {', '.join(candidates)}"
                if candidates
                else f"declare {_article(target)} {target} named {value!r}"
            )
            yield error(
                "SPEC_UNKNOWN_REFERENCE",
                f"{doc.kind} {doc.name!r}: {'.'.join(path)} refers to unknown {target} {value!r}",
                doc.at(*path),
                hint,
            )


def _get(raw: object, path: tuple[str, ...]) -> object:
    for part in path:
        if not isinstance(raw, dict):
            return None
        raw = raw.get(part)
    return raw


def _chain_cycles(documents: list[Document]) -> list[Diagnostic]:
    graph = {d.name: _raw_upstreams(d) for d in documents if d.kind == "FineTune"}
    by_name = {d.name: d for d in documents if d.kind == "FineTune"}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = by_name[cycle[0]]
        return [
            error(
                "SPEC_CHAIN_CYCLE",
                "continuous fine-tune chain has a cycle: " + " → ".join(cycle),
                first.at("baseModel", "fineTune"),
                "a chain must start from a base model; break the cycle",
            )
        ]
    return []


def _raw_upstreams(doc: Document) -> set[str]:
    upstream = _get(doc.raw, ("baseModel", "fineTune"))
    return {upstream} if isinstance(upstream, str) else set()


def upstreams(spec: object) -> set[str]:
    """Names of the FineTunes a spec builds on."""
    if isinstance(spec, FineTuneSpec) and isinstance(spec.base_model, FineTuneRef):
        return {spec.base_model.fine_tune}
    if isinstance(spec, DeploymentSpec) and isinstance(spec.model, FineTunedModelRef):
        return {spec.model.fine_tune}
    if isinstance(spec, LocalRunSpec):
        return set()
    return set()


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"
