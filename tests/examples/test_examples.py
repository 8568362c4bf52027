"""Every example validates, and plans changes against a fresh emulator.

Each example is copied into its own git work tree under the test's tmp dir, so that `.ftops/`
(caches, local runs) lands there and not in the repository.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from reconciler.cli import EMULATOR_URL_ENV, main
from reconciler.emulator.server import RunningEmulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "ftops.yaml").is_file())


def _skip_reason(name: str) -> str | None:
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


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def copy(name: str) -> Path:
        repo = tmp_path / "repo"
        (repo / ".git").mkdir(parents=True, exist_ok=True)
        target = repo / "examples" / name
        shutil.copytree(EXAMPLES / name, target, symlinks=True)
        monkeypatch.chdir(repo)
        return target

    return copy


def test_every_example_has_specs_data_and_readme() -> None:
    assert len(NAMES) >= 11
    for name in NAMES:
        folder = EXAMPLES / name
        assert (folder / "README.md").is_file() or name in {"quickstart", "chain-and-regions"}, (
            f"examples/{name} has no README.md"
        )
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
