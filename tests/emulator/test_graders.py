"""Grader validation (`client.fine_tuning.alpha.graders.validate`) with OpenAI's rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from reconciler.emulator.server import start_background
from tests.emulator.conftest import create_account
from tests.helpers import arm_client, openai_client

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
SIMILAR = {
    "type": "text_similarity",
    "name": "similar",
    "input": "{{ sample.output_json.summary }}",
    "reference": "{{item.summary}}",
    "evaluation_metric": "rouge_l",
}
JUDGE = {
    "type": "score_model",
    "name": "judge",
    "model": "o4-mini-2025-04-16",
    "input": [
        {"role": "system", "content": "Score the answer from 0 to 1."},
        {"role": "user", "content": [{"type": "input_text", "text": "{{sample.output_text}}"}]},
    ],
    "range": [0, 1],
    "sampling_params": {"temperature": 0.0},
}
PYTHON = {
    "type": "python",
    "name": "length",
    "source": "def grade(sample, item) -> float:\n    return len(sample['output_text']) / 100\n",
}
MULTI = {
    "type": "multi",
    "name": "blend",
    "graders": {"exact": EXACT, "similar": SIMILAR},
    "calculate_output": "max(exact, 0.5 * similar + 0.1)",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One emulator for the module: validation keeps no state."""
    emulator = start_background(tmp_path_factory.mktemp("graders") / "emulator.sqlite")
    create_account(arm_client(emulator.url), "acct")
    yield openai_client(emulator.url, "acct")
    emulator.stop()


@pytest.mark.parametrize("grader", [EXACT, SIMILAR, JUDGE, PYTHON, MULTI], ids=lambda g: g["type"])
def test_valid_graders_come_back(client: Any, grader: dict[str, Any]) -> None:
    answer = client.fine_tuning.alpha.graders.validate(grader=grader)
    assert answer.grader.model_dump(exclude_none=True)["name"] == grader["name"]
    assert answer.grader.type == grader["type"]


def _broken(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


@pytest.mark.parametrize(
    ("grader", "param", "words"),
    [
        (_broken(EXACT, operation="equals"), "grader.operation", "eq, ne, like, ilike"),
        (_broken(EXACT, name=""), "grader.name", "non-empty"),
        (_broken(EXACT, input="{{answer}}"), "grader.input", "{{answer}}"),
        (_broken(EXACT, reference="{{sample.output_tokens}}"), "grader.reference", "sample"),
        (_broken(SIMILAR, evaluation_metric="bleurt"), "grader.evaluation_metric", "rouge_l"),
        (_broken(JUDGE, input=[]), "grader.input", "non-empty"),
        (_broken(JUDGE, input=[{"role": "robot", "content": "x"}]), "grader.input[0].role", "user"),
        (
            _broken(JUDGE, input=[{"role": "user", "content": [{"text": "{{x.y}}"}]}]),
            "grader.input[0].content[0].text",
            "{{x.y}}",
        ),
        (_broken(JUDGE, range=[1, 0]), "grader.range", "low < high"),
        (_broken(PYTHON, source="def grade(sample, item)\n  return 1"), "grader.source", "Python"),
        (
            _broken(PYTHON, source="def score(sample, item):\n    return 1"),
            "grader.source",
            "grade(sample, item)",
        ),
        (_broken(PYTHON, source="#" * (256 * 1024 + 1)), "grader.source", "256 KB"),
        (_broken(MULTI, graders={}), "grader.graders", "non-empty"),
        (
            _broken(MULTI, graders={"exact": _broken(EXACT, operation="x")}),
            "grader.graders.exact.operation",
            "eq",
        ),
        (_broken(MULTI, calculate_output="exact +"), "grader.calculate_output", "expression"),
        (_broken(MULTI, calculate_output="exact + fuzzy"), "grader.calculate_output", "'fuzzy'"),
        (_broken(MULTI, calculate_output="__import__('os')"), "grader.calculate_output", "call"),
        (_broken(MULTI, calculate_output="exact.real"), "grader.calculate_output", "Attribute"),
        (
            {"type": "endpoint", "name": "remote", "url": "https://x"},
            "grader.type",
            "private preview, not available",
        ),
        ({"type": "label_model", "name": "l"}, "grader.type", "string_check"),
    ],
)
def test_invalid_graders_name_the_field(
    client: Any, grader: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.alpha.graders.validate(grader=grader)
    assert caught.value.code == "invalid_grader"
    assert caught.value.param == param
    message = caught.value.body["message"]
    assert words in message and message.startswith(param)


def test_python_source_is_parsed_never_run(client: Any, tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef grade(sample, item):\n    return 1\n"
    client.fine_tuning.alpha.graders.validate(grader=_broken(PYTHON, source=source))
    assert not marker.exists()


def test_a_missing_grader(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/fine_tuning/alpha/graders/validate", body={}, cast_to=dict)
    assert caught.value.param == "grader"
