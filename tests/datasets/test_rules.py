"""Every rule of research/datasets.md §5: a minimal fixture that triggers it, and a clean
near-twin that does not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.datasets import RULES, inspect_dataset, rules_dataset, rules_vision
from reconciler.errors import Severity

from .helpers import (
    Line,
    chat,
    clean,
    completion,
    data_uri,
    dpo,
    encode,
    image_part,
    png,
    text_part,
    tool_call,
    tool_def,
    tool_example,
    vision,
    write_jsonl,
)


@dataclass
class Case:
    code: str
    bad: list[Line] | bytes  # lines (padded with clean examples) or the whole file
    good: list[Line] | bytes
    options: dict[str, Any] = field(default_factory=dict)
    pad: int = 10
    good_options: dict[str, Any] | None = None  # default: `options`
    good_pad: int | None = None  # default: `pad`
    patch: dict[tuple[Any, str], Any] = field(default_factory=dict)
    severity: Severity | None = None  # when the finding's severity differs from the rule's
    name: str = ""


def raw(lines: list[Line], pad: int = 10, sep: bytes = b"\n") -> bytes:
    return sep.join([encode(x) for x in lines] + [encode(clean(i)) for i in range(pad)]) + sep


USER_ASSISTANT = (("user", "hi"), ("assistant", "hello"))
WEATHER = {"city": "Paris"}
GPT_4O = {"base_model": "gpt-4o-2024-08-06"}
O4_MINI = {"base_model": "o4-mini-2025-04-16", "format": "rft"}
LONG_TEXT = "word " * 5000

CASES = [
    # 5.1 file level
    Case("FILE_EMPTY", b"", raw([])),
    # The limits are lowered so that a small file is "large": 10 clean examples are 1,410 bytes.
    Case(
        "FILE_TOO_LARGE",
        raw([], pad=12),
        raw([], pad=10),
        patch={(rules_dataset, "FILES_API_LIMIT"): 1500},
    ),
    Case(
        "FILE_NEAR_SIZE_LIMIT",
        raw([], pad=12),
        raw([], pad=10),
        patch={(rules_dataset, "NEAR_LIMIT"): 1500},
    ),
    Case("FILE_ENCODING_UTF16", raw([]).decode().encode("utf-16"), raw([])),
    Case("FILE_ENCODING_UTF16", raw([]).decode().encode("utf-16-le"), raw([]), name="without-bom"),
    Case(
        "FILE_INVALID_UTF8",
        [b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'],
        [b'{"messages": [{"role": "user", "content": "caf\xc3\xa9"}]}'],
    ),
    Case("FILE_BOM", b"\xef\xbb\xbf" + raw([]), raw([])),
    Case(
        "FILE_NOT_JSONL",
        json.dumps([clean(i) for i in range(10)]).encode(),
        raw([]),
        name="array",
    ),
    Case(
        "FILE_NOT_JSONL",
        json.dumps(clean(1), indent=2).encode(),
        json.dumps(clean(1)).encode(),
        name="pretty",
    ),
    Case(
        "FILE_NOT_JSONL",
        b'{"messages": [\n  {"role": "user", "content": "hi"}\n]}\n',
        b'{"messages": [{"role": "user", "content": "hi"}]}\n',
        name="opening-line",
    ),
    Case(
        "FILE_NOT_JSONL",
        b'{"messages": [{"role": "user", "content": "hi"}]\n}\n',
        b'{"messages": [{"role": "user", "content": "hi"}]}\n{"x": 1\n}\n',
        name="whole-file-parses",
    ),
    Case("FILE_MIXED_FORMATS", [completion()], [chat(*USER_ASSISTANT)]),
    Case(
        "FILE_FORMAT_MODEL_MISMATCH",
        [completion()],
        [completion()],
        options={"base_model": "gpt-4o-mini"},
        good_options={"base_model": "babbage-002"},
        pad=0,
        name="completion-on-chat-model",
    ),
    Case("FILE_TOO_FEW_EXAMPLES", [], [], pad=9, good_pad=10),
    Case(
        "FILE_VALIDATION_FEW_EXAMPLES", [], [], pad=9, good_pad=10, options={"role": "validation"}
    ),
    Case(
        "FILE_TOO_MANY_IMAGE_EXAMPLES",
        [vision(image_part(data_uri(png()))) for _ in range(3)]
        + [chat(("user", f"{i}"), ("assistant", "x")) for i in range(1)],
        [vision(image_part(data_uri(png(5))))],
        patch={(rules_dataset, "MAX_IMAGE_EXAMPLES"): 2},
    ),
    Case("FILE_CRLF", raw([], sep=b"\r\n"), raw([])),
    # 5.2 line / JSON level
    Case("LINE_BLANK", [b"", b"   "], raw([]) + b"\n\n", name="inside"),
    Case("LINE_INVALID_JSON", [b'{"messages": NaN}'], [b'{"messages": 1}'], name="nan"),
    Case(
        "LINE_INVALID_JSON",
        [b'{"messages": [{"role": "user", "content": "\\ud800"}]}'],
        [b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'],
        name="lone-surrogate",
    ),
    Case("LINE_INVALID_JSON", [b'{"messages": [],}'], [b'{"messages": []}'], name="trailing-comma"),
    Case(
        "LINE_INVALID_JSON",
        [b'{"messages": []} // comment'],
        [b'{"messages": []}'],
        name="comment",
    ),
    Case(
        "LINE_INVALID_JSON",
        [chat(*USER_ASSISTANT), b'\xef\xbb\xbf{"messages": []}'],
        [chat(*USER_ASSISTANT), b'{"messages": []}'],
        name="bom-inside",
    ),
    Case(
        "LINE_DUPLICATE_KEY",
        [b'{"messages": [{"role": "user", "role": "assistant", "content": "x"}]}'],
        [b'{"messages": [{"role": "assistant", "content": "x"}]}'],
    ),
    Case(
        "LINE_DUPLICATE_KEY",
        [b'{"messages": [], "messages": [{"role": "assistant", "content": "x"}]}'],
        [b'{"messages": [{"role": "assistant", "content": "x"}]}'],
        name="top-level",
    ),
    Case("LINE_NOT_OBJECT", [chat(*USER_ASSISTANT), b"[1, 2]"], [chat(*USER_ASSISTANT)]),
    Case("EX_UNKNOWN_FORMAT", [{"text": "hi"}], [chat(*USER_ASSISTANT)]),
    Case("EX_UNKNOWN_TOP_KEY", [chat(*USER_ASSISTANT, meta=1)], [chat(*USER_ASSISTANT)]),
    # 5.3 chat
    Case("EX_MESSAGES_NOT_LIST", [{"messages": "hi"}], [chat(*USER_ASSISTANT)]),
    Case("EX_MESSAGES_EMPTY", [{"messages": []}], [chat(*USER_ASSISTANT)]),
    Case(
        "MSG_NOT_OBJECT",
        [{"messages": ["hi", {"role": "assistant", "content": "x"}]}],
        [chat(*USER_ASSISTANT)],
    ),
    Case(
        "MSG_MISSING_ROLE",
        [{"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]}],
        [chat(*USER_ASSISTANT)],
    ),
    Case("MSG_UNKNOWN_ROLE", [chat(("robot", "hi"), ("assistant", "x"))], [chat(*USER_ASSISTANT)]),
    Case(
        "MSG_UNKNOWN_ROLE",
        [chat(("developer", "be terse"), *USER_ASSISTANT)],
        [chat(("system", "be terse"), *USER_ASSISTANT)],
        severity=Severity.WARNING,
        name="developer",
    ),
    Case(
        "MSG_UNKNOWN_KEY",
        [
            {
                "messages": [
                    {"role": "user", "content": "hi", "lang": "en"},
                    {"role": "assistant", "content": "x"},
                ]
            }
        ],
        [
            {
                "messages": [
                    {"role": "user", "content": "hi", "name": "ann"},
                    {"role": "assistant", "content": "x"},
                ]
            }
        ],
    ),
    Case(
        "MSG_MISSING_CONTENT",
        [{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}],
        [tool_example()],
    ),
    Case("MSG_CONTENT_TYPE", [chat(("user", 5), ("assistant", "x"))], [chat(*USER_ASSISTANT)]),
    Case("MSG_EMPTY_CONTENT", [chat(("user", "hi"), ("assistant", "  "))], [chat(*USER_ASSISTANT)]),
    Case(
        "MSG_EMPTY_CONTENT",
        [chat(("user", ""), ("assistant", "x"))],
        [chat(*USER_ASSISTANT)],
        severity=Severity.WARNING,
        name="user",
    ),
    *[
        Case(
            "MSG_WEIGHT_INVALID",
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "x", "weight": w},
                    ]
                }
            ],
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "x", "weight": 1},
                    ]
                }
            ],
            name=name,
        )
        for name, w in (("true", True), ("float", 1.0), ("two", 2), ("string", "1"))
    ],
    Case(
        "MSG_WEIGHT_NOT_ASSISTANT",
        [
            {
                "messages": [
                    {"role": "user", "content": "hi", "weight": 1},
                    {"role": "assistant", "content": "x"},
                ]
            }
        ],
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "x", "weight": 0},
                    {"role": "user", "content": "and?"},
                    {"role": "assistant", "content": "y", "weight": 1},
                ]
            }
        ],
    ),
    Case("EX_NO_ASSISTANT", [chat(("user", "hi"))], [chat(*USER_ASSISTANT)]),
    Case(
        "EX_NO_TRAINABLE_ASSISTANT",
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "x", "weight": 0},
                ]
            }
        ],
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "x", "weight": 1},
                ]
            }
        ],
    ),
    Case(
        "EX_LAST_NOT_ASSISTANT", [chat(*USER_ASSISTANT, ("user", "bye"))], [chat(*USER_ASSISTANT)]
    ),
    Case(
        "EX_SYSTEM_NOT_FIRST",
        [chat(("user", "hi"), ("system", "s"), ("assistant", "x"))],
        [chat(("system", "s"), *USER_ASSISTANT)],
    ),
    Case(
        "EX_MULTIPLE_SYSTEM",
        [chat(("system", "s"), ("system", "t"), *USER_ASSISTANT)],
        [chat(("system", "s"), *USER_ASSISTANT)],
    ),
    Case(
        "EX_ADJACENT_SAME_ROLE",
        [chat(("user", "hi"), ("assistant", "x"), ("assistant", "y"))],
        [chat(*USER_ASSISTANT)],
    ),
    Case("EX_MISSING_SYSTEM", [chat(*USER_ASSISTANT)], [chat(("system", "s"), *USER_ASSISTANT)]),
    Case(
        "EX_MISSING_USER",
        [chat(("system", "s"), ("assistant", "x"))],
        [chat(("system", "s"), *USER_ASSISTANT)],
    ),
    Case(
        "EX_SPECIAL_TOKEN_TEXT",
        [chat(("user", "end <|endoftext|> here"), ("assistant", "x"))],
        [chat(("user", "end <|not special|> here"), ("assistant", "x"))],
    ),
    # 5.4 tools / functions
    Case("TOOL_DEFS_INVALID", [tool_example(tools=[{"type": "function"}])], [tool_example()]),
    Case(
        "TOOL_DEFS_INVALID",
        [tool_example(tools={"get_weather": {}})],
        [tool_example()],
        name="not-list",
    ),
    Case(
        "TOOL_DUPLICATE_NAME",
        [tool_example(tools=[tool_def(), tool_def()])],
        [tool_example(tools=[tool_def(), tool_def("get_time")])],
    ),
    Case(
        "TOOL_CALLS_INVALID", [tool_example(calls=[], results=[])], [tool_example()], name="empty"
    ),
    Case(
        "TOOL_CALLS_INVALID",
        [tool_example(calls=[tool_call(arguments=WEATHER)])],
        [tool_example(calls=[tool_call(arguments=json.dumps(WEATHER))])],
        name="arguments-object",
    ),
    Case(
        "TOOL_ARGS_NOT_JSON",
        [tool_example(calls=[tool_call(arguments="{city: Paris")])],
        [tool_example()],
    ),
    Case(
        "TOOL_ARGS_DOUBLE_ENCODED",
        [tool_example(calls=[tool_call(arguments=json.dumps(json.dumps(WEATHER)))])],
        [tool_example(calls=[tool_call(arguments=json.dumps(WEATHER))])],
    ),
    Case(
        "TOOL_UNKNOWN_FUNCTION",
        [tool_example(calls=[tool_call(name="get_time")])],
        [tool_example(calls=[tool_call(name="get_weather")])],
    ),
    Case(
        "TOOL_RESULT_ORPHAN",
        [tool_example(results=[("call_9", "21 C")])],
        [tool_example(results=[("call_1", "21 C")])],
    ),
    Case(
        "TOOL_CALL_UNANSWERED",
        [
            tool_example(
                calls=[tool_call("call_1"), tool_call("call_2")], results=[("call_1", "21 C")]
            )
        ],
        [
            tool_example(
                calls=[tool_call("call_1"), tool_call("call_2")],
                results=[("call_1", "21 C"), ("call_2", "22 C")],
            )
        ],
    ),
    Case(
        "TOOL_PARALLEL_FLAG_TYPE",
        [tool_example(parallel_tool_calls="yes")],
        [tool_example(parallel_tool_calls=False)],
    ),
    Case(
        "LEGACY_FUNCTIONS",
        [
            {
                "messages": [
                    {"role": "user", "content": "Weather?"},
                    {
                        "role": "assistant",
                        "function_call": {"name": "get_weather", "arguments": "{}"},
                    },
                ],
                "functions": [tool_def()["function"]],
            }
        ],
        [tool_example(final=False, results=[])],
    ),
    # 5.5 vision
    Case(
        "IMG_PART_INVALID",
        [vision({"type": "audio", "audio": "x"})],
        [vision(text_part("more text"))],
    ),
    Case(
        "IMG_NOT_IN_USER",
        [vision(answer=[text_part("look:"), image_part(data_uri(png()))])],
        [vision(image_part(data_uri(png())), answer=[text_part("a chart")])],
    ),
    Case(
        "IMG_URL_SCHEME",
        [vision(image_part("http://example.com/a.png"))],
        [vision(image_part("https://example.com/a.png"))],
    ),
    Case(
        "IMG_URL_SCHEME",
        [vision(image_part(data_uri(png(), "gif")))],
        [vision(image_part(data_uri(png(), "png")))],
        name="gif",
    ),
    Case(
        "IMG_DATA_INVALID",
        [vision(image_part(data_uri(b"\xff\xd8\xff\xe0" + b"\0" * 40, "png")))],
        [vision(image_part(data_uri(png(), "png")))],
        name="wrong-type",
    ),
    Case(
        "IMG_DATA_INVALID",
        [vision(image_part("data:image/png;base64,@@@@"))],
        [vision(image_part(data_uri(png())))],
        name="bad-base64",
    ),
    Case(
        "IMG_TOO_LARGE",
        [vision(image_part(data_uri(png() + b"\0" * 200)))],
        [vision(image_part(data_uri(png())))],
        patch={(rules_vision, "MAX_IMAGE_BYTES"): 100},
    ),
    Case(
        "IMG_MODE_UNSUPPORTED",
        [vision(image_part(data_uri(png(colour_type=0))))],
        [vision(image_part(data_uri(png(colour_type=6))))],
    ),
    Case(
        "IMG_DETAIL_INVALID",
        [vision(image_part("https://example.com/a.png", detail="medium"))],
        [vision(image_part("https://example.com/a.png", detail="low"))],
    ),
    Case(
        "IMG_TOO_MANY",
        [vision(*[image_part(data_uri(png())) for _ in range(65)])],
        [vision(*[image_part(data_uri(png())) for _ in range(10)])],
    ),
    Case(
        "IMG_TOO_MANY",
        [vision(*[image_part(data_uri(png())) for _ in range(11)])],
        [vision(*[image_part(data_uri(png())) for _ in range(10)])],
        severity=Severity.WARNING,
        name="over-10",
    ),
    Case(
        "IMG_URL_UNVERIFIED",
        [vision(image_part("https://example.com/a.png"))],
        [vision(image_part(data_uri(png())))],
    ),
    Case(
        "IMG_MODEL_UNSUPPORTED",
        [vision(image_part(data_uri(png())))],
        [vision(image_part(data_uri(png())))],
        options={"base_model": "gpt-4o-mini"},
        good_options=GPT_4O,
        name="gpt-4o-mini",
    ),
    # reinforcement fine-tuning
    Case(
        "RFT_LAST_NOT_USER",
        [
            {
                "messages": [
                    {"role": "user", "content": "2+2?"},
                    {"role": "assistant", "content": "4"},
                ],
                "answer": "4",
            }
        ],
        [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}],
        options=O4_MINI,
        pad=0,
        good_pad=0,
    ),
    Case(
        "RFT_NO_REFERENCE",
        [{"messages": [{"role": "user", "content": "2+2?"}]}],
        [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}],
        options=O4_MINI,
        pad=0,
        good_pad=0,
    ),
    Case(
        "RFT_MODEL_UNSUPPORTED",
        [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}],
        [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}],
        options={"format": "rft", "base_model": "gpt-4o-2024-08-06"},
        good_options=O4_MINI,
        pad=0,
        good_pad=0,
    ),
    # 5.6 DPO
    Case("DPO_INPUT_INVALID", [dpo(messages=[])], [dpo()], options=GPT_4O),
    Case(
        "DPO_INPUT_ENDS_WITH_ASSISTANT",
        [
            dpo(
                messages=[
                    {"role": "user", "content": "2+2?"},
                    {"role": "assistant", "content": "4"},
                ]
            )
        ],
        [dpo(messages=[{"role": "user", "content": "2+2?"}])],
        options=GPT_4O,
    ),
    Case(
        "DPO_OUTPUT_INVALID",
        [dpo(preferred=[{"role": "user", "content": "4"}])],
        [dpo()],
        options=GPT_4O,
    ),
    Case("DPO_OUTPUT_INVALID", [dpo(preferred="4")], [dpo()], options=GPT_4O, name="not-list"),
    Case(
        "DPO_OUTPUT_MULTI",
        [
            dpo(
                preferred=[
                    {"role": "assistant", "content": "4"},
                    {"role": "assistant", "content": "!"},
                ]
            )
        ],
        [dpo()],
        options=GPT_4O,
    ),
    Case(
        "DPO_IDENTICAL_OUTPUTS",
        [dpo(non_preferred=[{"role": "assistant", "content": "4"}])],
        [dpo()],
        options=GPT_4O,
    ),
    Case(
        "DPO_HAS_IMAGES",
        [
            dpo(
                messages=[
                    {"role": "user", "content": [text_part("?"), image_part(data_uri(png()))]}
                ]
            )
        ],
        [dpo()],
        options=GPT_4O,
    ),
    Case(
        "DPO_MODEL_UNSUPPORTED",
        [dpo()],
        [dpo()],
        options={"base_model": "gpt-4o-mini"},
        good_options=GPT_4O,
        name="gpt-4o-mini",
    ),
    # 5.7 legacy prompt/completion
    Case("LEGACY_FIELD_TYPE", [completion(prompt=5)], [completion()]),
    Case("LEGACY_EMPTY_COMPLETION", [completion(answer="")], [completion()]),
    Case("LEGACY_HINTS", [completion(answer="greeting")], [completion(answer=" greeting")]),
    # 5.8 dataset level
    Case(
        "SET_DUPLICATE_EXAMPLE",
        [chat(*USER_ASSISTANT), chat(*USER_ASSISTANT)],
        [chat(*USER_ASSISTANT)],
    ),
    Case(
        "SET_DUPLICATE_EXAMPLE",
        [
            b'{"messages": [{"role": "user", "content": "hi"}, '
            b'{"role": "assistant", "content": "x"}]}',
            b'{"messages":[{"content":"hi","role":"user"},{"content":"x","role":"assistant"}]}',
        ],
        [
            b'{"messages": [{"role": "user", "content": "hi"}, '
            b'{"role": "assistant", "content": "x"}]}'
        ],
        name="key-order-and-spaces",
    ),
    Case(
        "SET_CONFLICTING_LABELS",
        [chat(("user", "hi"), ("assistant", "x")), chat(("user", "hi"), ("assistant", "y"))],
        [chat(("user", "hi"), ("assistant", "x")), chat(("user", "ho"), ("assistant", "y"))],
    ),
    Case(
        "EX_TOO_MANY_TOKENS",
        [chat(("user", "hi"), ("assistant", LONG_TEXT))],
        [chat(("user", "hi"), ("assistant", LONG_TEXT))],
        options={"base_model": "gpt-35-turbo-0613"},  # 4,096
        good_options={"base_model": "gpt-35-turbo-1106"},  # 16,385
        name="truncated",
    ),
    Case(
        "EX_TOO_MANY_TOKENS",
        [chat(("user", LONG_TEXT), ("assistant", "x"))],
        [chat(("user", "hi"), ("assistant", "x"))],
        options={"base_model": "gpt-35-turbo-0613"},
        severity=Severity.ERROR,
        name="nothing-left-to-train",
    ),
    Case(
        "EX_TOKENS_UNCERTAIN",
        [vision(image_part("https://example.com/a.png", detail="auto"))],
        [vision(image_part("https://example.com/a.png", detail="low"))],
    ),
]

PAIR_CODES = {"SET_TRAIN_VALID_OVERLAP", "SET_FORMAT_DIFFERS"}  # tests/datasets/test_pairs.py
OTHER_TESTS = {"FILE_NOT_FOUND"}  # below


def case_id(case: Case) -> str:
    return f"{case.code}-{case.name}" if case.name else case.code


def materialise(tmp_path: Path, content: list[Line] | bytes, pad: int, name: str) -> Path:
    path = tmp_path / f"{name}.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
        return path
    return write_jsonl(path, content, pad=pad)


def inspect(path: Path, case: Case, monkeypatch: pytest.MonkeyPatch, *, twin: bool = False):  # type: ignore[no-untyped-def]
    for (module, attribute), value in case.patch.items():
        monkeypatch.setattr(module, attribute, value)
    options = case.good_options if twin and case.good_options is not None else case.options
    return inspect_dataset(path, count_tokens=True, **options)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rule_fires_on_its_fixture(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = inspect(materialise(tmp_path, case.bad, case.pad, "bad"), case, monkeypatch)
    found = [d for d in report.diagnostics if d.code == case.code]
    assert found, f"{case.code} not reported; got {sorted(report.codes)}"
    expected = case.severity or RULES[case.code].severity
    assert any(d.severity is expected for d in found)
    assert all(d.hint for d in found)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rule_quiet_on_clean_twin(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pad = case.pad if case.good_pad is None else case.good_pad
    report = inspect(materialise(tmp_path, case.good, pad, "good"), case, monkeypatch, twin=True)
    assert case.code not in report.codes, [
        d.message for d in report.diagnostics if d.code == case.code
    ]


def test_every_rule_has_a_case() -> None:
    covered = {case.code for case in CASES} | PAIR_CODES | OTHER_TESTS
    assert set(RULES) - covered == set()


def test_file_not_found(tmp_path: Path) -> None:
    report = inspect_dataset(tmp_path / "missing.jsonl")
    assert report.codes == {"FILE_NOT_FOUND"} and not report.ok
    assert "FILE_NOT_FOUND" not in inspect_dataset(write_jsonl(tmp_path / "x.jsonl", [])).codes


def test_a_tally_counts_one_example_as_one(tmp_path: Path) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", [chat(("user", "q"), ("assistant", "a"))])
    many = write_jsonl(
        tmp_path / "many.jsonl", [chat(("user", f"q{i}"), ("assistant", "a")) for i in range(1200)]
    )
    [single] = [d for d in inspect_dataset(one).diagnostics if d.code == "EX_MISSING_SYSTEM"]
    [plural] = [d for d in inspect_dataset(many).diagnostics if d.code == "EX_MISSING_SYSTEM"]
    assert single.message == "1 example has no system message; the first at line 1"
    assert plural.message == "1,200 examples have no system message; the first at line 1"
