"""Graders of reinforcement fine-tuning: `POST /fine_tuning/alpha/graders/validate`, and the same
checks on the grader of a reinforcement job.

The rules are OpenAI's grader types (`openai.types.graders`): string_check, text_similarity,
score_model, python and multi; `endpoint` graders are a private preview. Template references
must be `{{item.<field>}}` (a field of the training example), `{{sample.output_text}}` or
`{{sample.output_json.<field>}}` (the model's answer). The emulator never runs a grader: Python
sources and `calculate_output` expressions are parsed with `ast`, never executed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from reconciler.emulator.routing import ApiError, Call, Reply
from reconciler.emulator.world import data_plane_account

KINDS = ("string_check", "text_similarity", "score_model", "python", "multi")
STRING_OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY_METRICS = (
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "cosine",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
MESSAGE_ROLES = ("user", "assistant", "system", "developer")
MAX_PYTHON_SOURCE_BYTES = 256 * 1024
# What a multi grader's calculate_output may call besides its graders' names.
OUTPUT_FUNCTIONS = frozenset({"min", "max", "abs", "round", "sqrt", "log", "exp", "floor", "ceil"})
# Expression parts calculate_output may use: arithmetic, comparisons, conditionals, calls.
_OUTPUT_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Constant,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
    ast.expr_context,
)
TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FIELDS = r"(\.[A-Za-z_][\w-]*)"
REFERENCE = re.compile(rf"^(item{_FIELDS}+|sample\.output_text|sample\.output_json{_FIELDS}*)$")


class InvalidGrader(Exception):
    """`param` is the path of the field at fault, e.g. grader.graders.exact.operation."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param} {problem}")
        self.param = param
        self.message = f"{param} {problem}"


def validate(call: Call) -> Reply:
    data_plane_account(call)
    body = call.json()
    grader = body.get("grader") if isinstance(body, dict) else None
    try:
        check_grader(grader)
    except InvalidGrader as invalid:
        raise ApiError(
            400, "invalid_grader", invalid.message, extra={"param": invalid.param}
        ) from invalid
    return Reply(200, {"grader": grader})


def check_grader(grader: Any, path: str = "grader") -> None:
    """Raise InvalidGrader for the first problem found."""
    if not isinstance(grader, dict):
        raise InvalidGrader(path, "is required and must be an object.")
    kind = grader.get("type")
    if kind == "endpoint":
        raise InvalidGrader(
            f"{path}.type", "'endpoint' graders are in private preview, not available."
        )
    check = _CHECKS.get(str(kind))
    if check is None:
        raise InvalidGrader(f"{path}.type", f"must be one of {', '.join(KINDS)}, not {kind!r}.")
    _text(grader, "name", path)
    check(grader, path)


# --- the kinds --------------------------------------------------------------------------------


def _string_check(grader: dict[str, Any], path: str) -> None:
    _template(grader, "input", path)
    _template(grader, "reference", path)
    _choice(grader, "operation", STRING_OPERATIONS, path)


def _text_similarity(grader: dict[str, Any], path: str) -> None:
    _template(grader, "input", path)
    _template(grader, "reference", path)
    _choice(grader, "evaluation_metric", SIMILARITY_METRICS, path)


def _score_model(grader: dict[str, Any], path: str) -> None:
    _text(grader, "model", path)
    messages = grader.get("input")
    if not isinstance(messages, list) or not messages:
        raise InvalidGrader(f"{path}.input", "must be a non-empty list of {role, content}.")
    for index, message in enumerate(messages):
        _message(message, f"{path}.input[{index}]")
    _range(grader.get("range"), f"{path}.range")
    if grader.get("sampling_params") is not None and not isinstance(
        grader["sampling_params"], dict
    ):
        raise InvalidGrader(f"{path}.sampling_params", "must be an object.")


def _message(message: Any, path: str) -> None:
    if not isinstance(message, dict):
        raise InvalidGrader(path, "must be an object with role and content.")
    if message.get("role") not in MESSAGE_ROLES:
        raise InvalidGrader(f"{path}.role", f"must be one of {', '.join(MESSAGE_ROLES)}.")
    if "content" not in message:
        raise InvalidGrader(f"{path}.content", "is required.")
    _templates_in(message["content"], f"{path}.content")


def _range(value: Any, path: str) -> None:
    if value is None:
        return
    numbers = isinstance(value, list) and len(value) == 2
    numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not numbers or not value[0] < value[1]:
        raise InvalidGrader(path, f"must be [low, high] with low < high, not {value!r}.")


def _python(grader: dict[str, Any], path: str) -> None:
    source = _text(grader, "source", path)
    if len(source.encode()) > MAX_PYTHON_SOURCE_BYTES:
        raise InvalidGrader(f"{path}.source", f"is over {MAX_PYTHON_SOURCE_BYTES // 1024} KB.")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InvalidGrader(
            f"{path}.source", f"is not valid Python: {exc.msg} (line {exc.lineno})."
        ) from exc
    if not any(_is_grade_function(node) for node in tree.body):
        raise InvalidGrader(f"{path}.source", "must define a function grade(sample, item).")
    if grader.get("image_tag") is not None and not isinstance(grader["image_tag"], str):
        raise InvalidGrader(f"{path}.image_tag", "must be a string.")


def _is_grade_function(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef) or node.name != "grade":
        return False
    positional = len(node.args.posonlyargs) + len(node.args.args)
    return positional >= 2 or node.args.vararg is not None


def _multi(grader: dict[str, Any], path: str) -> None:
    graders = grader.get("graders")
    if isinstance(graders, dict) and isinstance(graders.get("type"), str):
        graders = {str(graders.get("name")): graders}  # one grader, as the SDK's type allows
    if not isinstance(graders, dict) or not graders:
        raise InvalidGrader(f"{path}.graders", "must be a non-empty object of named graders.")
    for name, sub in graders.items():
        check_grader(sub, f"{path}.graders.{name}")
    _calculate_output(_text(grader, "calculate_output", path), set(graders), path)


def _calculate_output(expression: str, names: set[str], path: str) -> None:
    where = f"{path}.calculate_output"
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise InvalidGrader(where, f"is not a valid expression: {exc.msg}.") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _OUTPUT_NODES):
            raise InvalidGrader(where, f"may not use {type(node).__name__} ({expression!r}).")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in OUTPUT_FUNCTIONS
        ):
            raise InvalidGrader(where, f"may call only {', '.join(sorted(OUTPUT_FUNCTIONS))}.")
        if isinstance(node, ast.Name) and node.id not in names | OUTPUT_FUNCTIONS:
            raise InvalidGrader(
                where,
                f"uses '{node.id}', which is neither a grader name ({', '.join(sorted(names))}) "
                f"nor one of {', '.join(sorted(OUTPUT_FUNCTIONS))}.",
            )


_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "string_check": _string_check,
    "text_similarity": _text_similarity,
    "score_model": _score_model,
    "python": _python,
    "multi": _multi,
}


# --- fields -----------------------------------------------------------------------------------


def _text(grader: dict[str, Any], key: str, path: str) -> str:
    value = grader.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidGrader(f"{path}.{key}", "is required and must be a non-empty string.")
    return value


def _choice(grader: dict[str, Any], key: str, allowed: tuple[str, ...], path: str) -> None:
    value = grader.get(key)
    if value not in allowed:
        raise InvalidGrader(f"{path}.{key}", f"must be one of {', '.join(allowed)}, not {value!r}.")


def _template(grader: dict[str, Any], key: str, path: str) -> None:
    _templates_in(_text(grader, key, path), f"{path}.{key}")


def _templates_in(value: Any, path: str) -> None:
    """Check every {{...}} reference in a string, or in the strings of a content list/object."""
    if isinstance(value, str):
        for reference in TEMPLATE.findall(value):
            if not REFERENCE.match(reference):
                raise InvalidGrader(
                    path,
                    f"has the template reference '{{{{{reference}}}}}'; use "
                    "{{item.<field>}}, {{sample.output_text}} or {{sample.output_json.<field>}}.",
                )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _templates_in(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _templates_in(item, f"{path}.{key}")
