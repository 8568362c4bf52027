"""Spec loading: every problem at once, each at the right line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.specs.loading import load_paths
from reconciler.specs.references import check_references

HEADER = """\
apiVersion: ftops/v1
kind: Project
metadata: {name: demo}
---
apiVersion: ftops/v1
kind: Account
metadata: {name: main}
spec:
  subscription: s
  resourceGroup: rg
  accountName: acct
  region: eastus2
---
apiVersion: ftops/v1
kind: Dataset
metadata: {name: travel}
spec: {path: data.jsonl}
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "specs.yaml"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def problems(path: Path) -> list[tuple[str, int | None, int | None]]:
    loaded = load_paths([path])
    found = loaded.diagnostics + check_references(loaded.all_documents)
    return [
        (d.code, d.location.line if d.location else None, d.location.column if d.location else None)
        for d in found
    ]


def test_unknown_field_dangling_reference_and_cycle_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        ---
        apiVersion: ftops/v1
        kind: FineTune
        metadata: {name: a}
        spec:
          account: main
          baseModel: {fineTune: b}
          trainingData: travel
          epochz: 3
        ---
        apiVersion: ftops/v1
        kind: FineTune
        metadata: {name: b}
        spec:
          account: main
          baseModel: {fineTune: a}
          trainingData: travel
        ---
        apiVersion: ftops/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          account: main
          model: {fineTune: nope}
        """,
    )
    assert sorted(problems(path)) == sorted(
        [
            ("SPEC_UNKNOWN_FIELD", 26, 3),  # epochz
            ("SPEC_CHAIN_CYCLE", 33, 25),  # b's baseModel.fineTune (the cycle's first node)
            ("SPEC_UNKNOWN_REFERENCE", 41, 21),  # model.fineTune: nope
        ]
    )


def test_unknown_field_hint_lists_the_allowed_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        ---
        apiVersion: ftops/v1
        kind: FineTune
        metadata: {name: a}
        spec:
          account: main
          baseModel: gpt-4o-mini-2024-07-18
          trainingData: travel
          method:
            hyperparameters: {epochs: 2, batchsize: 4}
        """,
    )
    [diag] = load_paths([path]).diagnostics
    assert diag.code == "SPEC_UNKNOWN_FIELD"
    assert (diag.location.line, diag.location.column) == (27, 34)
    assert "batchSize" in (diag.hint or "")


@pytest.mark.parametrize(
    "value, code",
    [
        ("subscription: ${env:FTOPS_TEST_SUB}", None),
        ("region: ${env:FTOPS_TEST_SUB}", "SPEC_ENV_NOT_ALLOWED"),
        ("subscription: ${env:FTOPS_TEST_UNSET_VARIABLE}", "SPEC_ENV_UNSET"),
    ],
)
def test_env_substitution_only_in_account_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, code: str | None
) -> None:
    monkeypatch.setenv("FTOPS_TEST_SUB", "sub-from-env")
    spec = {"subscription": "subscription: s", "region": "region: eastus2"}
    spec[value.split(":")[0]] = value
    path = tmp_path / "a.yaml"
    path.write_text(
        "apiVersion: ftops/v1\nkind: Account\nmetadata: {name: main}\nspec:\n"
        + "".join(f"  {line}\n" for line in spec.values())
        + "  resourceGroup: rg\n  accountName: acct\n"
    )
    loaded = load_paths([path])
    assert [d.code for d in loaded.diagnostics] == ([code] if code else [])
    if code is None:
        assert loaded.documents[0].spec.subscription == "sub-from-env"  # type: ignore[attr-defined]


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        "apiVersion: ftops/v1\nkind: Project\nmetadata: {name: p}\n"
        "spec: {catalog: !!python/object/apply:os.system [echo hi]}\n"
    )
    codes = [d.code for d in load_paths([path]).diagnostics]
    assert codes == ["SPEC_YAML_TAG"]


def test_duplicate_keys_and_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        ---
        apiVersion: ftops/v1
        kind: Dataset
        metadata: {name: travel}
        spec: {path: a.jsonl, path: b.jsonl}
        """,
    )
    codes = {c for c, _, _ in problems(path)}
    assert {"SPEC_DUPLICATE_KEY", "SPEC_DUPLICATE_NAME"} <= codes


def test_metadata_is_validated_too(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("apiVersion: ftops/v1\nkind: Project\nmetadata: {name: p, owner: me}\n")
    [diag] = load_paths([path]).diagnostics
    assert (diag.code, diag.location.line, diag.location.column) == ("SPEC_UNKNOWN_FIELD", 3, 21)


@pytest.mark.parametrize("epoch, ok", [(1, False), (2, True), (4, True), (5, False)])
def test_checkpoint_epoch_must_be_one_azure_keeps(tmp_path: Path, epoch: int, ok: bool) -> None:
    path = write(
        tmp_path,
        f"""\
        ---
        apiVersion: ftops/v1
        kind: FineTune
        metadata: {{name: a}}
        spec:
          account: main
          baseModel: gpt-4o-mini-2024-07-18
          trainingData: travel
          method: {{hyperparameters: {{epochs: 4}}}}
        ---
        apiVersion: ftops/v1
        kind: Deployment
        metadata: {{name: d}}
        spec:
          account: main
          model: {{fineTune: a, checkpoint: {{epoch: {epoch}}}}}
        """,
    )
    assert problems(path) == ([] if ok else [("SPEC_CHECKPOINT_EPOCH", 33, 44)])


def test_an_unquoted_model_version_is_the_version_not_a_date(tmp_path: Path) -> None:
    """YAML reads `2024-07-18` as a date; a spec means the model version it spells."""
    (tmp_path / "ftops.yaml").write_text(
        "apiVersion: ftops/v1\nkind: Project\nmetadata: {name: p}\nspec: {}\n---\n"
        "apiVersion: ftops/v1\nkind: Account\nmetadata: {name: a}\nspec:\n"
        "  subscription: 00000000-0000-0000-0000-000000000000\n  resourceGroup: rg\n"
        "  accountName: acct\n  region: eastus2\n  auth: entra\n---\n"
        "apiVersion: ftops/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        "  account: a\n  model: {base: gpt-4o-mini, version: 2024-07-18}\n"
    )
    loaded = load_paths([tmp_path])
    assert loaded.diagnostics == []
    (deployment,) = [d for d in loaded.documents if d.kind == "Deployment"]
    assert deployment.spec.model.version == "2024-07-18"


def test_a_union_value_is_judged_by_the_member_it_is_closest_to(tmp_path: Path) -> None:
    """`{base: x}` is a base-model reference without its version, not a fine-tune reference
    with an unknown field `base`."""
    (tmp_path / "ftops.yaml").write_text(
        "apiVersion: ftops/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        "  account: a\n  model: {base: gpt-4o-mini}\n"
    )
    found = [(d.code, d.message) for d in load_paths([tmp_path]).diagnostics]
    assert found == [("SPEC_MISSING_FIELD", "Deployment: spec.model.version is required")]
