"""Identifiers in the shapes Azure uses."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def hex32() -> str:
    return secrets.token_hex(16)


def file_id() -> str:
    return f"file-{hex32()}"


def job_id() -> str:
    return f"ftjob-{hex32()}"


def event_id() -> str:
    return f"ftevent-{hex32()}"


def checkpoint_id() -> str:
    return "ftckpt_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def operation_id() -> str:
    return secrets.token_hex(16)


def etag() -> str:
    return f'"{secrets.token_hex(16)}"'


def chat_id() -> str:
    return "chatcmpl-" + "".join(secrets.choice(_ALNUM) for _ in range(29))
