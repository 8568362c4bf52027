"""Every example validates, and plans changes against a fresh emulator.

Each example is copied into its own git work tree under the test's tmp dir, so that `.ftops/`
(caches, local runs) lands there and not in the repository.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import httpx2 as httpx
import pytest

from reconciler.cli import EMULATOR_URL_ENV, main
from reconciler.emulator.server import RunningEmulator
from tests.helpers import SUBSCRIPTION, arm_client, openai_client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "ftops.yaml").is_file())


def _skip_reason(name: str) -> str | None:
    if name == "azureml-cluster-lora":
        if not (EXAMPLES / name / "models" / "Phi-3-mini-4k-instruct").is_dir():
            return (
                "azureml-cluster-lora needs Phi-3-mini in models/ (see its README); "
                "tests/training/test_online_endpoint.py runs its specs with a tiny model"
            )
        return None
    if name != "local-lora":
        return None
    if importlib.util.find_spec("torch") is None:
        return "local-lora needs the [local] extra (torch)"
    if not any((EXAMPLES / name / "models").glob("*.gguf")):
        return "local-lora needs its base model: examples/local-lora/get-smollm2.sh"
    return None


def _params() -> list[object]:
    params = []
    for name in NAMES:
        reason = _skip_reason(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        if name == "local-lora":
            marks.append(pytest.mark.local)
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def _link_or_copy(source: str, target: str) -> None:
    """Hard links where possible: local-lora's base model is about 100 MB."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def copy(name: str) -> Path:
        repo = tmp_path / "repo"
        (repo / ".git").mkdir(parents=True, exist_ok=True)
        target = repo / "examples" / name
        shutil.copytree(EXAMPLES / name, target, symlinks=True, copy_function=_link_or_copy)
        monkeypatch.chdir(repo)
        return target

    return copy


# Walked through in the top-level README instead of one of their own.
WITHOUT_README = {"quickstart", "chain-and-regions"}


def test_every_example_has_specs_data_and_readme() -> None:
    assert len(NAMES) >= 11
    assert set(NAMES) >= WITHOUT_README, "a stale exemption: the example is gone"
    for name in NAMES:
        folder = EXAMPLES / name
        has_readme = (folder / "README.md").is_file()
        if name in WITHOUT_README:
            assert not has_readme, f"examples/{name} has a README.md: drop it from WITHOUT_README"
        else:
            assert has_readme, f"examples/{name} has no README.md"
        assert (folder / "data").is_dir(), f"examples/{name} has no data/"


def test_account_names_are_distinct_across_examples() -> None:
    import yaml

    seen: dict[str, str] = {}
    for name in NAMES:
        text = (EXAMPLES / name / "ftops.yaml").read_text(encoding="utf-8")
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") == "Account":
                account = doc["spec"]["accountName"]
                assert account not in seen, f"{account} in {name} and {seen[account]}"
                seen[account] = name


@pytest.mark.parametrize("name", _params())
def test_example_validates(name: str, copied, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    folder = copied(name)
    code = main(["validate", str(folder)])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("name", _params())
def test_example_plans_changes_on_a_fresh_emulator(
    name: str,
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(EMULATOR_URL_ENV, emulator.url)
    folder = copied(name)
    code = main(["plan", str(folder), "--emulator", "--detailed-exitcode"])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err


# --- what each scenario is about, after apply ---------------------------------------------------

CONTOSO = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-ml"
    "/providers/Microsoft.CognitiveServices/accounts/ftops-xtenant-contoso"
)
FANOUT_SWEDEN = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ftops-fanout-eu"
    "/providers/Microsoft.CognitiveServices/accounts/ftops-fanout-swedencentral"
)


def _applied(name: str, copied, url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(EMULATOR_URL_ENV, url)
    folder = str(copied(name))
    assert main(["apply", folder, "--emulator", "--yes", "--wait", "--timeout", "120"]) == 0
    assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0


def _deployment(url: str, subscription: str, group: str, account: str, name: str):  # type: ignore[no-untyped-def]
    return arm_client(url, subscription).deployments.get(group, account, name)


def test_cross_tenant_copy_names_the_source_account(
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _applied("cross-tenant", copied, emulator.url, monkeypatch)
    sub = "22222222-2222-2222-2222-222222222222"
    copy = _deployment(emulator.url, sub, "fabrikam-apps", "ftops-xtenant-fabrikam", "concierge")
    assert copy.properties.model.source_account == CONTOSO
    assert copy.properties.model.source is None  # across tenants, sourceAccount replaces source


def test_fan_out_deploys_one_model_to_three_regions(
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _applied("fan-out", copied, emulator.url, monkeypatch)
    zeros, ones = "00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"
    url = emulator.url
    home = _deployment(url, zeros, "ftops-fanout-eu", "ftops-fanout-swedencentral", "travel")
    east = _deployment(emulator.url, zeros, "ftops-fanout-us", "ftops-fanout-eastus2", "travel")
    west = _deployment(emulator.url, ones, "ftops-fanout-us", "ftops-fanout-westus3", "travel")
    assert home.properties.model.source is None
    assert east.properties.model.source == west.properties.model.source == FANOUT_SWEDEN
    assert {d.properties.model.name for d in (home, east, west)} == {home.properties.model.name}


def test_checkpoint_deployment_serves_the_checkpoint(
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _applied("checkpoint", copied, emulator.url, monkeypatch)
    account = ("ftops-examples", "ftops-checkpoint-swedencentral")
    final = _deployment(emulator.url, SUBSCRIPTION, *account, "travel-final")
    epoch2 = _deployment(emulator.url, SUBSCRIPTION, *account, "travel-epoch2")
    assert ":ckpt-step-" in epoch2.properties.model.name
    assert epoch2.properties.model.name.startswith(final.properties.model.name + ":")
    assert epoch2.sku.name == "DeveloperTier"


def test_global_standard_sku(
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _applied("global-standard", copied, emulator.url, monkeypatch)
    account = ("ftops-examples", "ftops-global-swedencentral")
    deployment = _deployment(emulator.url, SUBSCRIPTION, *account, "math-tutor-global")
    assert (deployment.sku.name, deployment.sku.capacity) == ("GlobalStandard", 10)
    # The onMissing: warn deployment is new, so it is created like any other.
    warned = _deployment(emulator.url, SUBSCRIPTION, *account, "math-tutor-regional")
    assert warned.properties.provisioning_state == "Succeeded"


# --- every example: converge, re-apply writes nothing, destroy leaves nothing owned ------------


def _accounts(name: str, kind: str = "Account") -> list[dict[str, str]]:
    import yaml

    text = (EXAMPLES / name / "ftops.yaml").read_text(encoding="utf-8")
    return [d["spec"] for d in yaml.safe_load_all(text) if d and d.get("kind") == kind]


def _project(name: str) -> str:
    import yaml

    text = (EXAMPLES / name / "ftops.yaml").read_text(encoding="utf-8")
    return next(
        d["metadata"]["name"] for d in yaml.safe_load_all(text) if d and d["kind"] == "Project"
    )


def _owned(url: str, name: str) -> list[str]:
    """Every deployment tagged with the example's project and every file named for it."""
    project, found = _project(name), []
    for acct in _accounts(name):
        arm = arm_client(url, acct["subscription"])
        for d in arm.deployments.list(acct["resourceGroup"], acct["accountName"]):
            if (d.tags or {}).get("ftops-project") == project:
                found.append(f"deployment {d.name}")
        data = openai_client(url, acct["accountName"])
        found += [
            f"file {f.filename}" for f in data.files.list() if f.filename.startswith(f"{project}.")
        ]
    for spec in _accounts(name, "MLWorkspace"):  # hub projects: their serverless endpoints
        from reconciler.providers.azureml import MLWorkspace
        from reconciler.specs.models import MLWorkspaceSpec

        ws = MLWorkspace(MLWorkspaceSpec.model_validate(spec), emulator_url=url)
        if not ws.exists():
            continue
        found += [
            f"serverless endpoint {e.name}"
            for e in ws.ml.serverless_endpoints.list()
            if (e.tags or {}).get("ftops-project") == project
        ]
    return found


# The two with a base model of their own are trained by tests/training instead.
@pytest.mark.parametrize(
    "name", [n for n in NAMES if n not in ("local-lora", "azureml-cluster-lora")]
)
def test_example_converges_reapplies_nothing_and_destroys_cleanly(
    name: str,
    copied,  # type: ignore[no-untyped-def]
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _applied(name, copied, emulator.url, monkeypatch)
    folder = str(Path.cwd() / "examples" / name)  # where `copied` put it
    writes = httpx.get(f"{emulator.url}/_emulator/stats").json()["writes"]
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0
    assert httpx.get(f"{emulator.url}/_emulator/stats").json()["writes"] == writes
    assert _owned(emulator.url, name), "the example created nothing"
    assert main(["destroy", folder, "--emulator", "--yes", "--force"]) == 0
    assert _owned(emulator.url, name) == []
