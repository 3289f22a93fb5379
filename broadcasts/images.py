"""A broadcast's picture, checked against what Telegram's sendPhoto takes: JPEG, PNG or WebP, at
most 10 MB, width + height at most 10000, the longer side at most 20 times the shorter. The size
is read from the file's header (no imaging library): a file whose header cannot be read is refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from django.utils.translation import gettext as _

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDES_SUM = 10_000
MAX_RATIO = 20


class ImageRefused(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """The picture's type and size, or ImageRefused saying why Telegram would not show it."""
    if len(data) > MAX_BYTES:
        raise ImageRefused(
            _("The picture is %(size)s MB; Telegram takes at most 10 MB.") % {"size": round(len(data) / 2**20, 1)}
        )
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        content_type, read_size = "image/png", _png_size
    elif data.startswith(b"\xff\xd8"):
        content_type, read_size = "image/jpeg", _jpeg_size
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        content_type, read_size = "image/webp", _webp_size
    else:
        raise ImageRefused(_("Send a JPEG, PNG or WebP picture."))
    try:
        info = ImageInfo(content_type, *read_size(data))
    except (struct.error, IndexError, ValueError) as exc:
        raise ImageRefused(_("The picture's file is damaged: its size cannot be read.")) from exc
    if info.width <= 0 or info.height <= 0:
        raise ImageRefused(_("The picture's file is damaged: its size cannot be read."))
    if info.width + info.height > MAX_SIDES_SUM:
        raise ImageRefused(
            _("The picture is %(width)s×%(height)s; Telegram wants width + height at most 10000.")
            % {"width": info.width, "height": info.height}
        )
    if max(info.width, info.height) > MAX_RATIO * min(info.width, info.height):
        raise ImageRefused(
            _("The picture is %(width)s×%(height)s; Telegram wants the longer side at most 20 times the shorter.")
            % {"width": info.width, "height": info.height}
        )
    return info


def _png_size(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR":
        raise ValueError("no IHDR chunk")
    return struct.unpack(">II", data[16:24])


# JPEG start-of-frame markers (C0-CF, except C4 DHT, C8 JPG and CC DAC) carry the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise ValueError("not at a marker")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    raise ValueError("no frame header")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one, packed after the signature byte
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit sizes minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ValueError("unknown WebP chunk")
