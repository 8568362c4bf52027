"""Why a fine-tune trains again: its inputs against those Azure recorded on the previous job."""

from __future__ import annotations

from typing import Any

from reconciler.desired import DesiredFineTune, file_digest_of
from reconciler.live import LiveJob
from reconciler.planning.state import Planning
from reconciler.plans import UNKNOWN, FieldDiff, Reason, Why

HYPERPARAMETERS = (
    "epochs",
    "batchSize",
    "learningRateMultiplier",
    "beta",
    "evalInterval",
    "evalSamples",
    "computeMultiplier",
)


def retrain_reason(p: Planning, ft: DesiredFineTune, previous: LiveJob) -> Reason:
    fields = (
        *_base_model(p, ft, previous),
        *_data(p, ft, previous),
        *_method(ft, previous),
        *_seed(ft, previous),
    )
    if any(f.why is Why.SPEC_CHANGED for f in fields) or not fields:
        detail = None if fields else _unrecorded(ft, previous)
        return Reason(why=Why.SPEC_CHANGED, detail=detail, fields=fields)
    return Reason(why=Why.UPSTREAM_CHANGED, fields=fields)


def _unrecorded(ft: DesiredFineTune, previous: LiveJob) -> str:
    old = (previous.suffix or "").rsplit("-", 1)[-1]
    new = ft.suffix.rsplit("-", 1)[-1]
    return f"job key {old} → {new} (a change Azure does not record, e.g. a value set to auto)"


def _base_model(p: Planning, ft: DesiredFineTune, previous: LiveJob) -> tuple[FieldDiff, ...]:
    if ft.upstream:
        model = p.models.get(ft.upstream)
        if model == previous.model:
            return ()
        note = f"upstream fine-tune {ft.upstream} " + ("retrains" if model is None else "retrained")
        return (
            FieldDiff(
                path="baseModel",
                before=previous.model,
                after=model or UNKNOWN,
                why=Why.UPSTREAM_CHANGED,
                note=note,
            ),
        )
    if ft.base_model == previous.model:
        return ()
    return (FieldDiff(path="baseModel", before=previous.model, after=ft.base_model),)


def _data(p: Planning, ft: DesiredFineTune, previous: LiveJob) -> tuple[FieldDiff, ...]:
    acct = p.account(ft.account)
    pairs = (
        ("trainingData", ft.training_dataset, ft.training_file, previous.training_file),
        ("validationData", ft.validation_dataset, ft.validation_file, previous.validation_file),
    )
    diffs = []
    for path, dataset, filename, file_id in pairs:
        if file_id is None and filename is not None:
            continue  # not recorded: nothing to compare against
        live = acct.file_with_id(file_id) if file_id else None
        before = file_digest_of(live.filename) if live else file_id
        after = file_digest_of(filename) if filename else None
        if before != after:
            diffs.append(FieldDiff(path=path, before=before, after=after, dataset=dataset))
    return tuple(diffs)


def _method(ft: DesiredFineTune, previous: LiveJob) -> tuple[FieldDiff, ...]:
    diffs = []
    if previous.method and previous.method != ft.method.type:
        diffs.append(FieldDiff(path="method.type", before=previous.method, after=ft.method.type))
    wanted: dict[str, Any] = ft.method.hyperparameters.model_dump(by_alias=True)
    for name in HYPERPARAMETERS:
        value, recorded = wanted.get(name), previous.hyperparameters.get(name)
        # "auto" lets Azure choose, and Azure records its choice: that is no difference. A value
        # Azure did not record cannot be compared.
        if value not in (None, "auto") and recorded is not None and recorded != value:
            diffs.append(
                FieldDiff(path=f"method.hyperparameters.{name}", before=recorded, after=value)
            )
    return tuple(diffs)


def _seed(ft: DesiredFineTune, previous: LiveJob) -> tuple[FieldDiff, ...]:
    if ft.seed is None or previous.seed is None or previous.seed == ft.seed:
        return ()
    return (FieldDiff(path="seed", before=previous.seed, after=ft.seed),)
