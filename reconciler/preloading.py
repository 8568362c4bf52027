"""Load the specs in a forked child while this process imports the SDKs it will talk through.

A plan of a large fleet spends about as long loading its specs (YAML, validation, digests, the
desired state) as importing `openai` and the Azure SDKs: both are Python on one core, so
threads cannot overlap them, and two processes can. The child loads the workspace and sends it
back pickled (a 1,000-deployment fleet is 1.5 MB, 0.1 s each way); meanwhile this process
imports the SDKs. On any trouble (no fork here, other threads running, a spec error, something
that does not pickle) this process loads the specs itself, so errors read exactly as they do
without the child.
"""

from __future__ import annotations

import gc
import os
import pickle  # noqa: TID251 - our own fork's bytes over a private pipe, never stored
import re
import sys
from pathlib import Path
from typing import Any

from reconciler.datasets.parallel import can_fork
from reconciler.specs.loading import spec_files
from reconciler.workspace import Workspace, load_workspace

# Specs that talk to Azure (and so need the SDKs) declare one of these kinds.
_CLOUD_KIND = re.compile(rb"^kind:\s*['\"]?(Account|MLWorkspace)\b", re.MULTILINE)


def load_beside_sdks(paths: list[Path], *, count_tokens: bool) -> Workspace:
    if not (can_fork() and _talks_to_azure(paths)):
        return load_workspace(paths, count_tokens=count_tokens)
    sys.stdout.flush()  # else the child's exit would write this process's buffered output again
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        _load_and_send(write, paths, count_tokens)
    os.close(write)
    # Imports and unpickling make objects that live until exit: the collector's passes over them
    # would find nothing to free.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _import_sdks()
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        loaded = _unpickled(data)
    finally:
        if was_enabled:
            gc.enable()
    return loaded if loaded is not None else load_workspace(paths, count_tokens=count_tokens)


def _load_and_send(write: int, paths: list[Path], count_tokens: bool) -> None:
    gc.disable()  # this process ends once it has sent the workspace: nothing to collect
    status = 0
    try:
        data = pickle.dumps(load_workspace(paths, count_tokens=count_tokens), protocol=5)
    except BaseException:  # the parent loads again and reports it as it would have
        data, status = b"", 1
    try:
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)  # no atexit, no collector pass: the parent owns this process's world


def _unpickled(data: bytes) -> Workspace | None:
    try:
        loaded: Any = pickle.loads(data) if data else None
    except Exception:
        return None
    return loaded if isinstance(loaded, Workspace) else None


def _import_sdks() -> None:
    import reconciler.providers.azure  # noqa: F401  (openai, azure-mgmt-cognitiveservices, azure-identity)


def _talks_to_azure(paths: list[Path]) -> bool:
    try:
        return any(_CLOUD_KIND.search(f.read_bytes()) for f in spec_files(paths) if f.is_file())
    except OSError:
        return False  # the loader reports what it cannot read
