"""The dataset rule codes of research/datasets.md §5: default severity and the hint for each.

Codes are stable: tools and users grep for them, so never rename one; add new ones instead.
A finding may raise or lower its own severity where §5 says so (e.g. MSG_EMPTY_CONTENT is an
error on an assistant message without a tool call and a warning elsewhere).
"""

from __future__ import annotations

from typing import NamedTuple

from reconciler.errors import Severity

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# Bump when a rule or the token formula changes: cached token counts carry it.
RULES_VERSION = 1


class Rule(NamedTuple):
    severity: Severity
    hint: str


RULES: dict[str, Rule] = {
    # 5.1 file level
    "FILE_NOT_FOUND": Rule(E, "Check the dataset path (it is relative to the spec file's repo)."),
    "FILE_EMPTY": Rule(
        E, "The file has 0 bytes; write at least 10 examples, one JSON object a line."
    ),
    "FILE_TOO_LARGE": Rule(
        E, "The Files API takes files under 512 MB; split the data or use the Uploads API (8 GB)."
    ),
    "FILE_NEAR_SIZE_LIMIT": Rule(
        W, "Azure says '512 MB' without saying MB or MiB; stay under 500 MB to be safe."
    ),
    "FILE_ENCODING_UTF16": Rule(E, "Save the file as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)."),
    "FILE_INVALID_UTF8": Rule(E, "Save the file as UTF-8; the bytes at this position are not."),
    "FILE_BOM": Rule(INFO, "A UTF-8 byte-order mark is accepted and ignored."),
    "FILE_NOT_JSONL": Rule(
        E,
        "JSONL needs one complete JSON object per line: convert with "
        "`jq -c '.[]' file.json > file.jsonl` (array) or `jq -c . file.json` (pretty-printed).",
    ),
    "FILE_MIXED_FORMATS": Rule(
        E, "Use one format per file: chat, DPO or prompt/completion examples, not a mix."
    ),
    "FILE_FORMAT_MODEL_MISMATCH": Rule(
        E, "Pick a base model that supports this data format, or convert the data."
    ),
    "FILE_TOO_FEW_EXAMPLES": Rule(E, "Azure requires at least 10 training examples."),
    "FILE_VALIDATION_FEW_EXAMPLES": Rule(
        W, "No minimum is documented for validation files, but fewer than 10 gives noisy metrics."
    ),
    "FILE_TOO_MANY_IMAGE_EXAMPLES": Rule(E, "Azure takes at most 50,000 examples with images."),
    "FILE_CRLF": Rule(INFO, "CRLF line endings are accepted."),
    # 5.2 line / JSON level
    "LINE_BLANK": Rule(W, "Remove blank lines; Azure's behaviour on them is undocumented."),
    "LINE_INVALID_JSON": Rule(
        E,
        "Each line must be strict JSON (RFC 8259): no NaN/Infinity, comments, trailing commas "
        "or lone surrogates.",
    ),
    "LINE_DUPLICATE_KEY": Rule(W, "Remove the repeated key; parsers silently keep the last one."),
    "LINE_NOT_OBJECT": Rule(E, "Each line must be a JSON object ({...})."),
    "EX_UNKNOWN_FORMAT": Rule(
        E,
        "An example needs `messages` (chat), `input`+`preferred_output`+`non_preferred_output` "
        "(DPO) or `prompt`+`completion` (legacy).",
    ),
    "EX_UNKNOWN_TOP_KEY": Rule(W, "Remove keys that the format does not define; they are ignored."),
    # 5.3 chat
    "EX_MESSAGES_NOT_LIST": Rule(E, "`messages` must be a list of message objects."),
    "EX_MESSAGES_EMPTY": Rule(E, "`messages` must not be empty."),
    "MSG_NOT_OBJECT": Rule(E, "Each message must be a JSON object with `role` and `content`."),
    "MSG_MISSING_ROLE": Rule(E, "Add `role`: system, user, assistant or tool."),
    "MSG_UNKNOWN_ROLE": Rule(
        E, "Use system, user, assistant, tool (or the legacy function); `developer` is unverified."
    ),
    "MSG_UNKNOWN_KEY": Rule(
        W,
        "Message keys are role, content, name, weight, tool_calls, tool_call_id, function_call; "
        "others are ignored.",
    ),
    "MSG_MISSING_CONTENT": Rule(
        E, "Add `content`; only assistant messages with tool_calls/function_call may omit it."
    ),
    "MSG_CONTENT_TYPE": Rule(E, "`content` must be a string or a list of content parts."),
    "MSG_EMPTY_CONTENT": Rule(E, "Write the text, or drop the message."),
    "MSG_WEIGHT_INVALID": Rule(E, "`weight` must be the integer 0 or 1 (not true/false, not 1.0)."),
    "MSG_WEIGHT_NOT_ASSISTANT": Rule(W, "`weight` only applies to assistant messages; remove it."),
    "EX_NO_ASSISTANT": Rule(E, "Every example needs at least one assistant message to learn from."),
    "EX_NO_TRAINABLE_ASSISTANT": Rule(
        E, "Every assistant message has weight 0, so nothing is learned; set one to weight 1."
    ),
    "EX_LAST_NOT_ASSISTANT": Rule(W, "Messages after the last assistant turn are not trained on."),
    "EX_SYSTEM_NOT_FIRST": Rule(W, "Put the system message first."),
    "EX_MULTIPLE_SYSTEM": Rule(W, "Use one system message per example."),
    "EX_ADJACENT_SAME_ROLE": Rule(INFO, "Two messages in a row have the same role (allowed)."),
    "EX_MISSING_SYSTEM": Rule(INFO, "Examples without a system message."),
    "EX_MISSING_USER": Rule(INFO, "Examples without a user message."),
    "EX_SPECIAL_TOKEN_TEXT": Rule(
        W, "Text holds a special token such as <|endoftext|>; it is trained on as plain text."
    ),
    # 5.4 tools / functions
    "TOOL_DEFS_INVALID": Rule(
        E,
        'Each tool is {"type": "function", "function": {"name": ..., "parameters": {...}}}.',
    ),
    "TOOL_DUPLICATE_NAME": Rule(W, "Give each tool a distinct name."),
    "TOOL_CALLS_INVALID": Rule(
        E,
        "`tool_calls` is a non-empty list of {id, type: function, function: {name, arguments}} "
        "with `arguments` a JSON string.",
    ),
    "TOOL_ARGS_NOT_JSON": Rule(W, "`arguments` should be a JSON object encoded as a string."),
    "TOOL_ARGS_DOUBLE_ENCODED": Rule(
        W, "`arguments` is JSON-encoded twice; encode the object once (json.dumps(args))."
    ),
    "TOOL_UNKNOWN_FUNCTION": Rule(W, "The called function is not among the example's tools."),
    "TOOL_RESULT_ORPHAN": Rule(
        E, "A tool message needs the `tool_call_id` of an earlier assistant tool call."
    ),
    "TOOL_CALL_UNANSWERED": Rule(W, "Add a tool message with this call's result."),
    "TOOL_PARALLEL_FLAG_TYPE": Rule(E, "`parallel_tool_calls` must be true or false."),
    "LEGACY_FUNCTIONS": Rule(
        INFO, "`functions`/`function_call` are deprecated but accepted; prefer tools/tool_calls."
    ),
    # 5.5 vision
    "IMG_PART_INVALID": Rule(
        E,
        'Parts are {"type": "text", "text": ...} or '
        '{"type": "image_url", "image_url": {"url": ...}}.',
    ),
    "IMG_NOT_IN_USER": Rule(E, "Images may only appear in user messages."),
    "IMG_URL_SCHEME": Rule(
        E, "Use an https:// URL or a data:image/(jpeg|png|webp);base64,... URI."
    ),
    "IMG_DATA_INVALID": Rule(
        E, "The base64 data does not decode to an image of the declared type."
    ),
    "IMG_TOO_LARGE": Rule(E, "Images must be at most 10 MB."),
    "IMG_MODE_UNSUPPORTED": Rule(W, "Use RGB or RGBA images."),
    "IMG_DETAIL_INVALID": Rule(E, "`detail` must be low, high or auto."),
    "IMG_TOO_MANY": Rule(
        E, "Azure's limits table allows 64 images per example; its troubleshooting page says 10."
    ),
    "IMG_URL_UNVERIFIED": Rule(
        INFO, "Remote image URLs are not fetched; their reachability and size are not checked."
    ),
    "IMG_MODEL_UNSUPPORTED": Rule(
        E, "Vision fine-tuning needs gpt-4o-2024-08-06 or gpt-4.1-2025-04-14."
    ),
    # 5.6 DPO
    "DPO_INPUT_INVALID": Rule(E, "`input` must be an object with a non-empty `messages` list."),
    "DPO_INPUT_ENDS_WITH_ASSISTANT": Rule(
        E, "The input must end with a user (or tool) message; the outputs answer it."
    ),
    "DPO_OUTPUT_INVALID": Rule(
        E,
        "`preferred_output` and `non_preferred_output` are lists holding an assistant message "
        "(roles assistant or tool only).",
    ),
    "DPO_OUTPUT_MULTI": Rule(W, "DPO trains on single-turn outputs: one assistant message."),
    "DPO_IDENTICAL_OUTPUTS": Rule(W, "Preferred and non-preferred outputs are identical."),
    "DPO_HAS_IMAGES": Rule(E, "DPO is text-only."),
    "DPO_MODEL_UNSUPPORTED": Rule(E, "Pick a base model that supports DPO (see the catalog)."),
    # reinforcement fine-tuning
    "RFT_LAST_NOT_USER": Rule(
        E,
        "End each example with the user's message: the model writes the answer, a grader "
        "scores it.",
    ),
    "RFT_NO_REFERENCE": Rule(
        W, "Add the fields the grader compares with (e.g. `answer`), read as {{item.answer}}."
    ),
    "RFT_MODEL_UNSUPPORTED": Rule(
        E, "Reinforcement fine-tuning needs a model that supports it (o4-mini; see the catalog)."
    ),
    # 5.7 legacy prompt/completion
    "LEGACY_FIELD_TYPE": Rule(E, "`prompt` and `completion` must both be strings."),
    "LEGACY_EMPTY_COMPLETION": Rule(E, "Write a non-empty completion."),
    "LEGACY_HINTS": Rule(
        INFO, "Legacy models learn best with a fixed prompt separator and a leading space."
    ),
    # 5.8 dataset / pair level
    "SET_DUPLICATE_EXAMPLE": Rule(W, "Remove repeated examples; they weigh the data."),
    "SET_CONFLICTING_LABELS": Rule(INFO, "The same prompt has different answers."),
    "SET_TRAIN_VALID_OVERLAP": Rule(
        W, "Validation examples that are also in training make validation loss look too good."
    ),
    "SET_FORMAT_DIFFERS": Rule(E, "Training and validation files must be in the same format."),
    "EX_TOO_MANY_TOKENS": Rule(
        W, "The service truncates examples over the limit from the end; shorten or split it."
    ),
    "EX_TOKENS_UNCERTAIN": Rule(
        INFO, "The token estimate counts remote or high-detail images at their minimum (85)."
    ),
}


def rule(code: str) -> Rule:
    return RULES[code]
