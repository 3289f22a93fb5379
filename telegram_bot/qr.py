"""QR codes of subscription links, drawn locally (segno: pure Python, no network, no imaging library)."""

from __future__ import annotations

import io

import segno

# Big enough to scan from a phone screen showing Telegram's preview.
SCALE = 10
BORDER = 4


def png(data: str) -> bytes:
    out = io.BytesIO()
    segno.make(data, error="m", micro=False).save(out, kind="png", scale=SCALE, border=BORDER)
    return out.getvalue()
