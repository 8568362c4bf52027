"""The CI pipelines under examples/ci/ and the pre-commit hook name only commands and flags the
CLI has: every `ftops …` line in them is parsed by the real argparse tree."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted((ROOT / "examples" / "ci").rglob("*.yml"))
HOOKS = ROOT / ".pre-commit-hooks.yaml"
SCRIPT_KEYS = {"run", "script", "inlineScript", "entry"}
EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}|\$\([A-Za-z_.]+\)|\$\{[A-Za-z_]+\}|\$[A-Za-z_]+")


def scripts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SCRIPT_KEYS and isinstance(value, str):
                yield value
            else:
                yield from scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from scripts(item)


def ftops_commands(script: str) -> Iterator[list[str]]:
    """The argument lists of every `ftops` call in a shell script (up to a redirect or pipe)."""
    for line in script.replace("\\\n", " ").splitlines():
        line = EXPRESSION.sub("X", line.split(" #")[0])
        for match in re.finditer(r"(?:^|[;&|]\s*|\s)ftops\s+(.*)", line):
            words = shlex.split(match.group(1))
            cut = next(
                (i for i, w in enumerate(words) if w in {">", ">>", "|", "||", "&&", ";", "2>&1"}),
                None,
            )
            yield words[:cut]


class CliError(Exception):
    pass


def check(argv: list[str]) -> None:
    """Parse as the CLI would; argparse's complaint becomes a CliError."""
    if argv[:1] == ["emulator"]:  # handed to the emulator's own parser before this one
        return
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            raise CliError(stderr.getvalue().strip().splitlines()[-1]) from None


@pytest.mark.parametrize("path", [*PIPELINES, HOOKS], ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_every_ftops_command_exists_with_its_flags(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = [argv for script in scripts(document) for argv in ftops_commands(script)]
    if path == HOOKS:
        commands = [[*shlex.split(h["entry"])[1:], "specs"] for h in document]
    assert commands, f"{path} runs no ftops command"
    for argv in commands:
        try:
            check(argv)
        except CliError as exc:
            pytest.fail(f"{path.name}: `ftops {' '.join(argv)}`: {exc}")


@pytest.mark.parametrize(
    "line",
    ["ftops plan specs --no-such-flag", "ftops deploy specs", "ftops apply specs --format yaml"],
)
def test_the_check_fails_on_a_command_or_flag_the_cli_lacks(line: str) -> None:
    [argv] = list(ftops_commands(line))
    with pytest.raises(CliError):
        check(argv)


def test_the_github_workflows_do_what_their_names_say() -> None:
    flows = {p.stem: yaml.safe_load(p.read_text()) for p in PIPELINES if "github" in str(p)}
    assert set(flows) == {"ftops-plan", "ftops-apply", "ftops-drift"}
    on = {name: flow[True] if True in flow else flow["on"] for name, flow in flows.items()}
    assert "pull_request" in on["ftops-plan"] and "schedule" in on["ftops-drift"]
    assert flows["ftops-apply"]["concurrency"]["cancel-in-progress"] is False
    for name, flow in flows.items():
        assert flow["permissions"]["id-token"] == "write", name  # OIDC, no stored secret
        for job in flow["jobs"].values():
            assert job["runs-on"] and all("uses" in s or "run" in s for s in job["steps"])
            assert any(str(s.get("uses", "")).startswith("azure/login@") for s in job["steps"])
    text = (ROOT / "examples/ci/github-actions/ftops-drift.yml").read_text()
    assert "--refresh-only --detailed-exitcode" in text
    assert "receipt.json" in (ROOT / "examples/ci/github-actions/ftops-apply.yml").read_text()
