"""Command jobs of the emulated Azure ML plane, run for real on this machine.

`schedule` starts `python -m reconciler.emulator.azureml_runs STATE SCOPE JOB` in its own session:
a launcher that outlives the emulator that started it (the CLI's embedded emulator lives only as
long as one command) and talks to the same SQLite state file. The launcher

1. copies the job's code snapshot and inputs out of the blob store into a work folder,
2. runs the command (`${{inputs.x}}` and `${{outputs.y}}` replaced by local paths) once per
   process: `instanceCount` × `processCountPerInstance`, each with the variables Azure ML sets for
   PyTorch distribution (`MASTER_ADDR`, `MASTER_PORT`, `NODE_RANK`, `RANK`, `LOCAL_RANK`,
   `WORLD_SIZE`), so a command that calls torchrun per node works as it does on a cluster,
3. uploads the outputs and the logs back to the blob store, and sets the job's status.

`cancel` kills the launcher's process group; the launcher's last act is to record `Canceled`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from reconciler.emulator import blobs

TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")
_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}")
# Short, or the long form the SDK expands a model's path to.
_DATASTORE_URI = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?"
    r"datastores/([^/]+)/paths/(.*)$",
    re.IGNORECASE,
)
_BLOB_URL = re.compile(r"^https?://[^/]+/blob/([^/]+)/([^/]+)/?(.*)$")
# A data asset version, by ARM id (what azure-ai-ml sends) or as `azureml:name:version`.
_DATA_ASSET = re.compile(r"(?:/data/([^/]+)/versions/([^/]+)$)|(?:^azureml:([^:/]+):([^:/]+)$)")
_STATE_WAIT_S = 30.0


def schedule(call: Any, scope: str, name: str, workspace_guid: str) -> None:
    """Start the job's launcher (after this request commits, the launcher finds the job)."""
    work = Path(tempfile.mkdtemp(prefix=f"ftops-amljob-{name[:40]}-"))
    command = [sys.executable, "-m", "reconciler.emulator.azureml_runs"]
    command += [str(call.emulator.store.path), scope, name, str(work)]
    log = (work / "launcher.log").open("ab")
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    call.db.execute(
        "INSERT INTO ml_resources (scope, kind, name, body, created_at, modified_at) "
        "VALUES (?, 'run', ?, ?, ?, ?) ON CONFLICT (scope, kind, name) DO UPDATE SET "
        "body = excluded.body",
        (scope, name, json.dumps({"pid": child.pid, "work": str(work)}), call.now, call.now),
    )


def cancel(db: sqlite3.Connection, scope: str, name: str) -> None:
    row = db.execute(
        "SELECT body FROM ml_resources WHERE scope = ? AND kind = 'run' AND name = ?",
        (scope, name),
    ).fetchone()
    if row is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(json.loads(row["body"])["pid"]), signal.SIGTERM)


# --- the launcher ----------------------------------------------------------------------------


class WorkspaceStore:
    """A workspace's resources and its datastores' blobs, as the state file has them."""

    def __init__(self, db: sqlite3.Connection, scope: str) -> None:
        self.db, self.scope = db, scope

    def _resource(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body FROM ml_resources WHERE scope = ? AND kind = ? AND name = ?",
            (self.scope, kind, name),
        ).fetchone()
        return None if row is None else dict(json.loads(row["body"]))

    # blob store ---------------------------------------------------------------------------

    def _datastore_location(self, datastore: str) -> tuple[str, str]:
        found = self._resource("datastore", datastore)
        if found is None:
            raise RuntimeError(f"datastore {datastore!r} does not exist")
        return found["properties"]["accountName"], found["properties"]["containerName"]

    def _location(self, uri: str) -> tuple[str, str, str]:
        """(storage account, container, path prefix) of a datastore URI or a blob URL."""
        if found := _DATASTORE_URI.match(uri):
            account, container = self._datastore_location(found.group(1))
            return account, container, unquote(found.group(2))
        if found := _BLOB_URL.match(uri.split("?", 1)[0]):
            return found.group(1), found.group(2), unquote(found.group(3))
        if found := _DATA_ASSET.search(uri):
            name, version = found.group(1) or found.group(3), found.group(2) or found.group(4)
            asset = self._resource("data_version", f"{name}/{version}")
            if asset is None:
                raise RuntimeError(f"data asset {name}:{version} does not exist")
            return self._location(asset["properties"]["dataUri"])
        raise RuntimeError(f"cannot resolve {uri!r} in this emulator")

    def download(self, uri: str, into: Path, *, single_file: bool) -> Path:
        account, container, prefix = self._location(uri)
        rows = blobs.read_blobs(self.db, account, container, prefix)
        if not rows:
            raise RuntimeError(f"nothing stored at {uri}")
        into.mkdir(parents=True, exist_ok=True)
        if single_file:
            name, content = next((r for r in rows if r[0] == prefix), rows[0])
            target = into / Path(name).name
            target.write_bytes(content)
            return target
        base = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        for name, content in rows:
            relative = name[len(base) :] if name.startswith(base) else None
            if not relative:
                continue
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return into

    def upload(self, folder: Path, uri: str) -> None:
        account, container, prefix = self._location(uri)
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = prefix + path.relative_to(folder).as_posix()
            blobs.write_blob(self.db, account, container, name, path.read_bytes(), now)
        self.db.execute("COMMIT")

    def code(self, code_id: str | None, target: Path) -> Path:
        """A code asset's files, copied into `target`."""
        if not code_id:
            target.mkdir(parents=True, exist_ok=True)
            return target
        found = re.search(r"/codes/([^/]+)/versions/([^/]+)$", code_id)
        asset = (
            self._resource("code_version", f"{found.group(1)}/{found.group(2)}") if found else None
        )
        if asset is None:
            raise RuntimeError(f"code {code_id} does not exist")
        return self.download(asset["properties"]["codeUri"], target, single_file=False)


class Launch(WorkspaceStore):
    def __init__(self, state: Path, scope: str, name: str, work: Path) -> None:
        db = sqlite3.connect(str(state), timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        super().__init__(db, scope)
        self.name, self.work = name, work
        self.children: list[subprocess.Popen[bytes]] = []

    # state --------------------------------------------------------------------------------

    def job(self) -> dict[str, Any]:
        deadline = time.monotonic() + _STATE_WAIT_S
        while (found := self._resource("job", self.name)) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"job {self.name} never appeared in the state file")
            time.sleep(0.05)
        return found

    def set_status(self, status: str, error: str | None = None) -> None:
        # Never wait inside the write transaction: the emulator serves requests meanwhile.
        self.db.execute("BEGIN IMMEDIATE")
        job = self._resource("job", self.name)
        if job is None:  # the world was reset under this job: nothing left to report to
            self.db.execute("ROLLBACK")
            raise SystemExit(f"job {self.name} is gone from the state file")
        if job["properties"]["status"] in TERMINAL:  # failed or cancelled from outside
            self.db.execute("COMMIT")
            return
        if job["properties"]["status"] == "CancelRequested" and status != "Canceled":
            status = "Canceled"
        job["properties"]["status"] = status
        if error:
            job["properties"].setdefault("properties", {})["ftops.emulator.error"] = error[-2000:]
        self.db.execute(
            "UPDATE ml_resources SET body = ?, modified_at = ? "
            "WHERE scope = ? AND kind = 'job' AND name = ?",
            (json.dumps(job), time.time(), self.scope, self.name),
        )
        self.db.execute("COMMIT")

    # the run ------------------------------------------------------------------------------

    def inputs(self, properties: dict[str, Any]) -> dict[str, str]:
        paths: dict[str, str] = {}
        for key, spec in (properties.get("inputs") or {}).items():
            kind = spec.get("jobInputType", "")
            if kind == "literal":
                paths[key] = str(spec.get("value", ""))
                continue
            single = kind in ("uri_file", "mlflow_model_file")
            place = self.download(spec["uri"], self.work / "inputs" / key, single_file=single)
            paths[key] = str(place)
        return paths

    def outputs(self, properties: dict[str, Any]) -> dict[str, tuple[Path, str]]:
        found: dict[str, tuple[Path, str]] = {}
        for key, spec in (properties.get("outputs") or {}).items():
            uri = spec.get("uri") or (
                f"azureml://datastores/workspaceblobstore/paths/azureml/{self.name}/{key}/"
            )
            local = self.work / "outputs" / key
            local.mkdir(parents=True, exist_ok=True)
            found[key] = (local, uri)
        return found

    def run(self) -> int:
        properties = self.job()["properties"]
        self.set_status("Preparing")
        try:
            code = self.code(properties.get("codeId"), self.work / "code")
            inputs = self.inputs(properties)
            outputs = self.outputs(properties)
        except Exception as exc:  # the job fails as Azure's does: with a message
            self.set_status("Failed", f"preparing the job: {exc}")
            return 1
        command = _PLACEHOLDER.sub(
            lambda m: inputs[m.group(2)] if m.group(1) == "inputs" else str(outputs[m.group(2)][0]),
            str(properties["command"]),
        )
        self.set_status("Running")
        codes = self.processes(properties, command, code)
        logs = self.work / "logs"
        self.upload(
            logs,
            f"azureml://datastores/workspaceblobstore/paths/ExperimentRun/dcid.{self.name}/user_logs/",
        )
        if any(codes):
            tail = _tail(logs)
            self.set_status("Failed", f"the command exited with {max(codes)}:\n{tail}")
            return 1
        for local, uri in outputs.values():
            self.upload(local, uri)
        self.set_status("Completed")
        return 0

    def processes(self, properties: dict[str, Any], command: str, code: Path) -> list[int]:
        resources = properties.get("resources") or {}
        nodes = int(resources.get("instanceCount") or 1)
        per_node = int((properties.get("distribution") or {}).get("processCountPerInstance") or 1)
        world = nodes * per_node
        port = _free_port()
        logs = self.work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        base_env = {
            **os.environ,
            **{str(k): str(v) for k, v in (properties.get("environmentVariables") or {}).items()},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AZUREML_RUN_ID": self.name,
            "AZUREML_NODE_COUNT": str(nodes),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(world),
            "PYTHONUNBUFFERED": "1",
        }
        for rank in range(world):
            env = {
                **base_env,
                "NODE_RANK": str(rank // per_node),
                "RANK": str(rank),
                "LOCAL_RANK": str(rank % per_node),
                "AZUREML_CR_NODE_RANK": str(rank // per_node),
            }
            log = (logs / f"std_log_process_{rank}.txt").open("ab")
            self.children.append(
                subprocess.Popen(
                    ["bash", "-c", command],
                    cwd=code,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        return [child.wait() for child in self.children]

    def stop(self, *_: Any) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
        if self.db.in_transaction:  # the signal came in the middle of a write
            self.db.execute("ROLLBACK")
        self.set_status("Canceled")
        sys.exit(1)


def _tail(logs: Path, lines: int = 15) -> str:
    text = []
    for path in sorted(logs.glob("*.txt")):
        text += path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> int:
    state, scope, name, work = argv
    launch = Launch(Path(state), scope, name, Path(work))
    signal.signal(signal.SIGTERM, launch.stop)
    try:
        return launch.run()
    finally:
        shutil.rmtree(Path(work) / "inputs", ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
