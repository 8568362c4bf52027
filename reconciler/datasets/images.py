"""Reading just enough of an inline (data URI) image: its type, pixel size and colour mode.

Only the header is decoded (the first few kB of base64), never the whole picture: the rules
need the magic bytes and the mode, the token estimate needs the size.
"""

from __future__ import annotations

import binascii
import struct
from typing import NamedTuple

DATA_PREFIX = "data:image/"
MIME_TYPES = ("jpeg", "png", "webp")
HEADER_CHARS = 1 << 16  # base64 chars: 48 kB of image, enough for any JPEG's SOF marker


class ImageHeader(NamedTuple):
    kind: str  # jpeg | png | webp
    width: int | None
    height: int | None
    mode_ok: bool  # RGB or RGBA (or unknown)


def split_data_uri(url: str) -> tuple[str, str] | None:
    """(declared type, base64 payload) of `data:image/<type>;base64,<payload>`."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith(DATA_PREFIX) or not head.endswith(";base64"):
        return None
    declared = head[len(DATA_PREFIX) : -len(";base64")]
    return (declared, payload) if declared in MIME_TYPES else None


def decoded_size(payload: str) -> int:
    return len(payload) * 3 // 4 - payload[-2:].count("=")


def decode_head(payload: str) -> bytes | None:
    """The first bytes of the image, or None when the base64 is invalid there."""
    head = payload[: HEADER_CHARS - HEADER_CHARS % 4] if len(payload) > HEADER_CHARS else payload
    try:
        return binascii.a2b_base64(head, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def read_header(data: bytes) -> ImageHeader | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 26:
        width, height = struct.unpack(">II", data[16:24])
        return ImageHeader("png", width, height, data[25] in (2, 6))
    if data.startswith(b"\xff\xd8\xff"):
        return jpeg_header(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return webp_header(data)
    return None


def jpeg_header(data: bytes) -> ImageHeader:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            components = data[i + 9] if i + 9 < len(data) else 3
            return ImageHeader("jpeg", width, height, components == 3)
        i += 2 + length
    return ImageHeader("jpeg", None, None, True)


def webp_header(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF, True)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, True)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height, True)
    return ImageHeader("webp", None, None, True)


def inline_image_size(url: str) -> tuple[int, int] | None:
    """Pixel size of a data-URI image, when its header says."""
    parts = split_data_uri(url)
    data = decode_head(parts[1]) if parts else None
    header = read_header(data) if data else None
    if header is None or header.width is None or header.height is None:
        return None
    return header.width, header.height
