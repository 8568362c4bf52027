"""A managed online deployment's scoring script, run on this machine for one request.

Azure ML's inference server loads the deployment's code, sets `AZUREML_MODEL_DIR` to where its
model is mounted, calls `init()` once and `run(raw_body)` per request. Here each request gets
its own process that does the same (the emulator keeps no server per deployment), with the code
asset and the model copied out of the blob store once, into a folder beside the state file named
by their ids.
The emulator imports nothing of the code it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from reconciler.emulator.azureml_runs import WorkspaceStore
from reconciler.emulator.routing import ArmError, Reply

SCORE_TIMEOUT_S = 600.0
_MODEL_VERSION = re.compile(r"(?:/models/([^/]+)/versions/([^/]+)$)|(?:^azureml:([^:]+):([^:]+)$)")


def model_version(reference: str) -> tuple[str, str] | None:
    """(name, version) of a model reference: an ARM id, or `azureml:name:version`."""
    found = _MODEL_VERSION.search(reference)
    if found is None:
        return None
    return found.group(1) or found.group(3), found.group(2) or found.group(4)


# What the inference server does, in one process: load the entry script, init(), run(body).
_RUNNER = """
import importlib.util, json, sys
code, script = sys.argv[1], sys.argv[2]
sys.path.insert(0, code)
spec = importlib.util.spec_from_file_location("score", f"{code}/{script}")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.init()
answer = module.run(sys.stdin.read())
sys.stdout.write("\\n" + (answer if isinstance(answer, str) else json.dumps(answer)))
"""


def answer(
    db: sqlite3.Connection, scope: str, deployment: dict[str, Any], body: bytes, cache: Path
) -> Reply:
    """`cache`: where this emulator's world keeps the copied models and code (beside its state
    file, so another world with the same ids never reads them)."""
    store = WorkspaceStore(db, scope)
    code_id = str((deployment.get("codeConfiguration") or {}).get("codeId") or "")
    script = str((deployment.get("codeConfiguration") or {}).get("scoringScript") or "score.py")
    model_id = str(deployment.get("model") or "")
    try:
        folder = _materialised(store, model_id, code_id, cache)
    except RuntimeError as missing:  # the model or the code is not where its asset says
        raise ArmError(500, "ModelNotFound", str(missing)) from None
    env = {**os.environ, **(deployment.get("environmentVariables") or {})}
    env["AZUREML_MODEL_DIR"] = str(folder / "model")
    try:
        done = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(folder / "code"), script],
            input=body,
            capture_output=True,
            env=env,
            cwd=folder / "code",
            timeout=SCORE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as late:
        message = f"the scoring script took over {late.timeout:.0f} s"
        raise ArmError(504, "Timeout", message) from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise ArmError(500, "ScoringScriptError", "\n".join(tail) or "the scoring script failed")
    last = done.stdout.decode(errors="replace").rstrip().rsplit("\n", 1)[-1]
    try:
        return Reply(200, json.loads(last))
    except ValueError:
        return Reply(200, last.encode(), media_type="text/plain")


def _materialised(store: WorkspaceStore, model_id: str, code_id: str, cache: Path) -> Path:
    """The model and the code, copied out of the blob store once per pair of ids."""
    digest = hashlib.sha256(f"{store.scope}\0{model_id}\0{code_id}".encode()).hexdigest()
    folder = cache / digest[:24]
    if (folder / "ready").exists():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=cache))
    try:
        store.code(code_id, staging / "code")
        found = model_version(model_id)
        if found is None:
            raise ArmError(400, "UserError", f"model {model_id!r} is not a model version")
        name, version = found
        model = store._resource("model_version", f"{name}/{version}")
        if model is None:
            raise ArmError(404, "NotFound", f"model {name}:{version} does not exist")
        store.download(str(model["properties"]["modelUri"]), staging / "model", single_file=False)
        (staging / "ready").touch()
        try:
            staging.rename(folder)
        except OSError:  # another request materialised it first
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder
