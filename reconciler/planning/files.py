"""Training files: content-addressed names; upload only what a job still to start needs."""

from __future__ import annotations

from reconciler.desired import (
    DesiredFile,
)
from reconciler.errors import error
from reconciler.live import AccountLive
from reconciler.planning.state import Planning
from reconciler.plans import Action, Change, FieldChange


def plan_files(p: Planning) -> None:
    """A file is needed only by a job still to start: once a job exists, its file may go."""
    to_train = {c.address for c in p.changes if c.action is Action.TRAIN}
    for f in p.desired.files:
        if any(
            ft.address in to_train
            for ft in p.desired.fine_tunes
            if ft.account == f.account and f.dataset in (ft.training_dataset, ft.validation_dataset)
        ):
            p.add(_file_change(p, f))


def _file_change(p: Planning, f: DesiredFile) -> Change:
    acct = p.account(f.account)
    live = acct.file_named(f.filename)
    base = {"address": f.address, "kind": "file", "account": f.account}
    if live is None:
        payload = {"filename": f.filename, "path": f.path, "digest": f.digest, "dataset": f.dataset}
        fields = (FieldChange(path="filename", after=f.filename),)
        return Change(
            **base,
            action=Action.UPLOAD,
            reason=_upload_reason(acct, f),
            fields=fields,
            payload=payload,
        )
    if live.status == "processed":
        return Change(
            **base,
            action=Action.NOOP,
            reason="uploaded and processed",
            payload={"file_id": live.id},
        )
    if live.status == "error":
        p.diagnostics.append(
            error(
                "FILE_PROCESSING_FAILED",
                f"file {live.filename} ({live.id}) failed processing in "
                f"account {f.account}: {live.status_details or 'no details'}",
                None,
                "run 'ftops validate' on the dataset, fix it and apply again (new bytes, new file)",
            )
        )
        return Change(
            **base, action=Action.NOOP, reason="processing failed", payload={"file_id": live.id}
        )
    return Change(
        **base,
        action=Action.WAIT,
        reason=f"file {live.id} is {live.status}",
        payload={"file_id": live.id},
        progress=live.status,
    )


def _upload_reason(acct: AccountLive, f: DesiredFile) -> str:
    older = [x.filename for x in acct.files if x.filename.startswith(f"{f.dataset}.")]
    if older:
        return f"dataset changed: {older[0]} → {f.filename}"
    return "new: not uploaded to this account yet"
