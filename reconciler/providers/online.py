"""Managed online endpoints serving TrainingRun adapters, in the run's Azure ML workspace.

A Deployment `{workspace: W, model: {trainingRun: R}, sku: {name: TYPE, capacity: N}}` is one
online endpoint (named for the Deployment, tagged as Azure OpenAI deployments are: ownership,
drift, protect) holding one deployment, `ftops`, on N instances of TYPE, that takes all its
traffic. What it serves is a model asset registered once per run key (`ftops-{run}-{key[:12]}`,
version 1), a datastore folder of what the scoring script loads:

    ftops/serving/{model}/base/…        the base model, copied inside the datastore from where
                                        the run's job read it (no second upload of its weights)
    ftops/serving/{model}/adapter/…     the adapter, from the run directory (verified against
                                        outputs.json when it was downloaded)
    ftops/serving/{model}/serving.json  last, the commit marker: the recipe the scoring script
                                        needs (the GGUF file name, the digests)

The scoring script is `reconciler/training/score.py` in the code snapshot the run trained with;
the environment is the run's image with Azure ML's inference server added (a Docker build
context in the datastore, named by its digest). Every step finds what an earlier or crashed
apply left.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from reconciler import localruns
from reconciler.errors import FtopsError
from reconciler.fileio import read_json, write_json_atomic
from reconciler.live import LiveDeployment
from reconciler.plans import DeploymentTarget, ServedAdapter
from reconciler.providers.azure import deployment_tags
from reconciler.providers.azureml import MLWorkspace, Upload
from reconciler.providers.cluster_runs import PlacedRun, base_address, ensure_code
from reconciler.providers.local import OFFLINE_ENV

DEPLOYMENT = "ftops"  # the one deployment of each endpoint, which takes all its traffic
FULL_TRAFFIC = 100
SCORING_SCRIPT = "reconciler/training/score.py"
SERVING_MANIFEST = "serving.json"
ENVIRONMENT = "ftops-serving"
# The run's image serves too: it has the trainer's torch, transformers and peft; Azure ML's
# inference server (which calls init() and run()) is added on top.
DOCKERFILE = "FROM {image}\nRUN pip install --no-cache-dir azureml-inference-server-http\n"


class OnlineEndpointError(FtopsError):
    """A managed online endpoint could not be read or put as the specs want it."""


def serving_prefix(model: str) -> str:
    return f"ftops/serving/{model}/"


class OnlineEndpoints:
    """Reads and writes the managed online endpoints of one project, in any workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- reads -----------------------------------------------------------------------------

    def read(self, ws: MLWorkspace) -> list[LiveDeployment]:
        ml = ws.ml
        endpoints = ws.call(lambda: list(ml.online_endpoints.list()), "list online endpoints")
        return [self._live(ws, e) for e in endpoints]

    def _live(self, ws: MLWorkspace, endpoint: Any) -> LiveDeployment:
        ml = ws.ml
        what = f"list the deployments of online endpoint {endpoint.name}"
        deployments = ws.call(lambda: list(ml.online_deployments.list(endpoint.name)), what)
        ours = next((d for d in deployments if d.name == DEPLOYMENT), None)
        model, version = _model_of(getattr(ours, "model", None))
        states = [endpoint.provisioning_state, getattr(ours, "provisioning_state", None)]
        return LiveDeployment(
            name=endpoint.name,
            model_name=model,
            model_version=version,
            sku_name=getattr(ours, "instance_type", None),
            capacity=getattr(ours, "instance_count", None),
            tags=dict(endpoint.tags or {}),
            provisioning_state=_least_settled(states),
            traffic=int((endpoint.traffic or {}).get(DEPLOYMENT, 0)),
        )

    def find(self, ws: MLWorkspace, name: str) -> Any:
        """The online endpoint of that name, or None (then it is a serverless one, or none)."""
        return ws._found(lambda: ws.ml.online_endpoints.get(name), f"read online endpoint {name}")

    # --- writes ----------------------------------------------------------------------------

    def put(self, ws: MLWorkspace, target: DeploymentTarget, capacity: int | None) -> None:
        """The endpoint, its deployment (created or updated in place) and its traffic."""
        from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment

        adapter, model = target.adapter, target.model
        assert adapter is not None and model is not None  # apply deploys once the run is done
        lock = self._lock(adapter)
        self._ensure_model(ws, model, adapter, lock)
        environment = self._ensure_environment(ws, adapter.image)
        code = ensure_code(ws, lock)
        endpoint = self._ensure_endpoint(ws, target)
        deployment = ManagedOnlineDeployment(
            name=DEPLOYMENT,
            endpoint_name=target.name,
            model=f"azureml:{model}:{target.model_version}",
            environment=environment,
            code_configuration=CodeConfiguration(code=code, scoring_script=SCORING_SCRIPT),
            instance_type=target.sku.name,
            instance_count=capacity or target.sku.capacity,
            environment_variables=dict(OFFLINE_ENV),
        )
        ws.wait(
            lambda: ws.ml.online_deployments.begin_create_or_update(deployment).result(),
            f"deploy {model} to online endpoint {target.name}",
        )
        endpoint.traffic = {DEPLOYMENT: FULL_TRAFFIC}
        ws.wait(
            lambda: ws.ml.online_endpoints.begin_create_or_update(endpoint).result(),
            f"route the traffic of online endpoint {target.name}",
        )

    def set_capacity(self, ws: MLWorkspace, name: str, instances: int) -> None:
        """The instance count, in place (the deployment's other settings as they are)."""
        what = f"read the deployment of online endpoint {name}"
        deployment = ws.call(lambda: ws.ml.online_deployments.get(DEPLOYMENT, name), what)
        deployment.instance_count = instances
        ws.wait(
            lambda: ws.ml.online_deployments.begin_create_or_update(deployment).result(),
            f"scale online endpoint {name} to {instances} instances",
        )

    def delete(self, ws: MLWorkspace, name: str) -> None:
        """The endpoint, and its deployments with it."""
        ws.wait(
            lambda: ws.ml.online_endpoints.begin_delete(name).result(),
            f"delete online endpoint {name}",
        )

    def complete(self, ws: MLWorkspace, found: Any, messages: list[dict[str, str]]) -> str:
        """One request to the (found) endpoint's scoring URI, with its key, as the scoring
        script reads it (chat messages in, an OpenAI-shaped chat completion out)."""
        import json
        import urllib.error
        import urllib.request

        name = found.name
        keys = ws.call(lambda: ws.ml.online_endpoints.get_keys(name), "read its keys")
        uri = str(found.scoring_uri)
        if ws.emulator_url is None and not uri.startswith("https://"):
            raise OnlineEndpointError(f"online endpoint {name} scores at {uri}, not over https")
        request = urllib.request.Request(
            uri,
            data=json.dumps({"messages": messages}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {keys.primary_key}",
                "azureml-model-deployment": DEPLOYMENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=900) as reply:  # https checked above
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as failed:
            raise OnlineEndpointError(
                f"online endpoint {name} answered HTTP {failed.code}: {_message(failed.read())}",
                code="ONLINE_SCORING_FAILED",
                hint="see the deployment's logs (az ml online-deployment get-logs)",
            ) from None
        return str(answer["choices"][0]["message"]["content"] or "")

    # --- what the deployment needs ---------------------------------------------------------

    def _run_dir(self, adapter: ServedAdapter) -> Path:
        return localruns.run_dir(self.root, adapter.run, adapter.run_key)

    def _lock(self, adapter: ServedAdapter) -> dict[str, Any]:
        run_dir = self._run_dir(adapter)
        state = localruns.read_run_state(run_dir)
        if state.phase != "succeeded":
            raise OnlineEndpointError(
                f"training run {adapter.run} has no adapter in {run_dir} ({state.phase})",
                code="ONLINE_NO_ADAPTER",
                hint="apply trains (or downloads) the run first; run apply again",
            )
        lock = read_json(run_dir / localruns.SPEC_LOCK)
        assert lock is not None  # a succeeded run has its lock
        return dict(lock)

    def _ensure_model(
        self, ws: MLWorkspace, model: str, adapter: ServedAdapter, lock: dict[str, Any]
    ) -> None:
        if ws.model_version(model, "1"):
            return
        prefix, base = serving_prefix(model), base_address(lock)
        if not ws.copy_prefix(base, prefix + "base/"):
            self._upload_base(ws, adapter, lock)  # gone from the datastore since the run
            ws.copy_prefix(base, prefix + "base/")
        run_dir = self._run_dir(adapter)
        adapter_dir = run_dir / localruns.ADAPTER
        files = sorted(p for p in adapter_dir.rglob("*") if p.is_file())
        ws.put_files(
            [Upload(p, prefix + "adapter/" + p.relative_to(adapter_dir).as_posix()) for p in files]
        )
        manifest = {
            "model": model,
            "run": adapter.run,
            "runKey": adapter.run_key,
            "ggufFile": lock["paths"].get("ggufFile"),
            "baseDigests": lock["digests"]["base"],
        }
        with tempfile.TemporaryDirectory(prefix="ftops-serving-") as tmp:
            path = Path(tmp) / SERVING_MANIFEST
            write_json_atomic(path, manifest)
            ws.put_file(path, prefix + SERVING_MANIFEST)
        tags = {"ftops-run": adapter.run, "ftops-run-key": adapter.run_key}
        ws.register_model(model, "1", ws.datastore_uri(prefix), tags)

    def _upload_base(self, ws: MLWorkspace, adapter: ServedAdapter, lock: dict[str, Any]) -> None:
        """The base model to where the run's job read it, from where the run found it here."""
        run = PlacedRun(adapter.run, adapter.run_key, lock, {})
        try:
            ws.put_files(run.inputs()["base"].uploads())
        except FileNotFoundError as missing:
            raise OnlineEndpointError(
                f"the base model of training run {adapter.run} is neither in the datastore of "
                f"workspace {ws.spec.workspace_name} ({base_address(lock)}) nor at "
                f"{lock['paths']['baseModelDir']}",
                code="ONLINE_NO_BASE",
                hint="put the base model back at baseModel.path: apply uploads it once",
            ) from missing

    def _ensure_environment(self, ws: MLWorkspace, image: str) -> str:
        from azure.ai.ml.entities import BuildContext, Environment

        dockerfile = DOCKERFILE.format(image=image)
        version = hashlib.sha256(dockerfile.encode()).hexdigest()[:16]
        if not ws.environment_version(ENVIRONMENT, version):
            prefix = f"ftops/environments/{version}/"
            with tempfile.TemporaryDirectory(prefix="ftops-environment-") as tmp:
                path = Path(tmp) / "Dockerfile"
                path.write_text(dockerfile)
                ws.put_file(path, prefix + "Dockerfile")
            context = f"{ws.container.url}/{prefix}"  # a URL: the SDK uploads nothing
            environment = Environment(
                name=ENVIRONMENT, version=version, build=BuildContext(path=context)
            )
            ws.register_environment(environment)
        return f"azureml:{ENVIRONMENT}:{version}"

    def _ensure_endpoint(self, ws: MLWorkspace, target: DeploymentTarget) -> Any:
        """The endpoint as the specs want it, created without traffic when it is missing (the
        traffic can only name a deployment that exists)."""
        from azure.ai.ml.entities import ManagedOnlineEndpoint

        what = f"read online endpoint {target.name}"
        found = ws._found(lambda: ws.ml.online_endpoints.get(target.name), what)
        endpoint = found or ManagedOnlineEndpoint(name=target.name, auth_mode="key")
        endpoint.tags = deployment_tags(target)
        if found is None:
            ws.wait(
                lambda: ws.ml.online_endpoints.begin_create_or_update(endpoint).result(),
                f"create online endpoint {target.name}",
            )
        return endpoint


def _message(body: bytes) -> str:
    """An error reply's message: Azure's `{"error": {"message"}}`, or its text."""
    import json

    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")[:2000]


def _model_of(reference: Any) -> tuple[str | None, str | None]:
    """(name, version) of a deployment's model: an ARM id or `azureml:name:version`."""
    text = str(reference or "")
    if "/models/" in text:
        name, _, version = text.split("/models/", 1)[1].partition("/versions/")
        return name, version or None
    if text.startswith("azureml:"):
        _, name, version = [*text.split(":"), ""][:3]
        return name, version or None
    return None, None


def _least_settled(states: list[Any]) -> str:
    """An endpoint and its deployment as one state: a failure, else the one still working."""
    spelled = [str(getattr(s, "value", s)) for s in states if s]
    spelled = [s[:1].upper() + s[1:] for s in spelled]
    for state in ("Failed", "Creating", "Updating", "Deleting", "Canceled"):
        if state in spelled:
            return state
    return "Succeeded" if spelled else "Creating"
