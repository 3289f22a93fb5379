"""A broadcast's picture is checked against what sendPhoto takes, from the file's header."""

from __future__ import annotations

import struct

import pytest
from django.utils import translation

from broadcasts.images import MAX_BYTES, ImageRefused, inspect_image
from tests.broadcasts.conftest import png_of_size, png_picture


def jpeg_of_size(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHH", 11, 8, height, width) + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_lossy_of_size(width: int, height: int) -> bytes:
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    chunk = b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def test_a_real_png_is_read_with_its_size():
    info = inspect_image(png_picture())

    assert info.content_type == "image/png"
    assert info.width == info.height > 0


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [
        (jpeg_of_size(800, 600), "image/jpeg", (800, 600)),
        (webp_lossy_of_size(640, 480), "image/webp", (640, 480)),
        (png_of_size(1280, 720), "image/png", (1280, 720)),
    ],
)
def test_jpeg_webp_and_png_headers_give_their_size(data, kind, size):
    info = inspect_image(data)

    assert (info.content_type, info.width, info.height) == (kind, *size)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"GIF89a" + b"\x00" * 20, "JPEG, PNG or WebP"),
        (b"not a picture at all", "JPEG, PNG or WebP"),
        (png_of_size(9000, 2000), "width + height"),
        (png_of_size(2100, 100), "20 times"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 4, "damaged"),
        (b"\xff\xd8\xff\xe0\x00", "damaged"),
        (png_of_size(0, 10), "damaged"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_BYTES, "10 MB"),
    ],
)
def test_what_telegram_would_not_show_is_refused_with_the_reason(data, says):
    with translation.override("en"), pytest.raises(ImageRefused) as refused:
        inspect_image(data)

    assert says in refused.value.message
