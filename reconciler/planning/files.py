"""Training files: content-addressed names; upload only what a job still to start needs."""

from __future__ import annotations

from reconciler.desired import DesiredFile, file_digest_of, file_prefix
from reconciler.errors import error
from reconciler.planning.state import Planning
from reconciler.plans import Action, FieldDiff, Keep, Reason, UploadFile, Wait, Why


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


def _file_change(p: Planning, f: DesiredFile) -> UploadFile | Keep | Wait:
    live = p.account(f.account).file_named(f.filename)
    if live is None:
        return UploadFile(
            address=f.address,
            reason=_upload_reason(p, f),
            dataset=f.dataset,
            filename=f.filename,
            path=f.path,
            digest=f.digest,
            bytes=f.bytes,
        )
    if live.status == "processed":
        reason = Reason(why=Why.UP_TO_DATE, detail="uploaded and processed")
        return Keep(address=f.address, reason=reason, live_id=live.id)
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
        reason = Reason(why=Why.FAILED, detail="processing failed")
        return Keep(address=f.address, reason=reason, live_id=live.id)
    return Wait(
        address=f.address,
        reason=Reason(why=Why.IN_PROGRESS, detail=f"file {live.id} is {live.status}"),
        progress=live.status,
        live_id=live.id,
    )


def _upload_reason(p: Planning, f: DesiredFile) -> Reason:
    prefix = file_prefix(p.desired.project, f.dataset)
    older = [x.filename for x in p.account(f.account).files if x.filename.startswith(prefix)]
    if not older:
        where = "workspace" if f.account in p.desired.hubs else "account"
        return Reason(why=Why.NEW, detail=f"not uploaded to this {where} yet")
    content = FieldDiff(
        path="content",
        before=file_digest_of(older[0]),
        after=file_digest_of(f.filename),
        dataset=f.dataset,
    )
    return Reason(why=Why.SPEC_CHANGED, fields=(content,))
